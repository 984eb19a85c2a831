"""Every torch.load in the package refuses pickled code (weights_only=True)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def torch_load_calls():
    for path in sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "pipeline").rglob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "torch"):
                yield path, node


def test_every_torch_load_passes_weights_only_true():
    calls = list(torch_load_calls())
    assert calls, "the package loads checkpoints somewhere"
    unsafe = [f"{path.relative_to(ROOT)}:{node.lineno}" for path, node in calls
              if not any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
                         for k in node.keywords)]
    assert not unsafe, f"torch.load without weights_only=True: {unsafe}"
