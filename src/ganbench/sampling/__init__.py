"""Everything about drawing samples: latents and layouts (:mod:`.latents`), drawing
from a generator (:mod:`.generate`), sample files and grids (:mod:`.files`), and the
from-checkpoint entry points of the ``sample`` stage and ``ganbench generate``
(:mod:`.api`)."""
