"""Print the code deps of each stage from ganbench.provenance.STAGE_CODE, in the layout
dvc.yaml uses (a helper for editing dvc.yaml; tests check the two agree)."""

from ganbench.provenance import STAGE_CODE

for stage, paths in STAGE_CODE.items():
    print(f"# {stage}")
    for p in paths:
        print(f"      - {p}")
