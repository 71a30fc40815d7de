"""GPU memory reuse: the per-session allocator of output images and buffers, and its report.

Every GPU node output gets its memory from a *block*: an image2d of some ``width x height``
texels or a buffer of some bytes (per storage kind and precision). A request is live from
the step (position in ``graph.nodes``, the order sessions run) of the node producing it
through the *release* step: the last step reading the tensor or any view of it (Reshape and
the other view ops may hand on the same memory). A block serves any number of requests
whose live steps do not overlap.

The plan is made before any memory exists (:meth:`Allocator.plan`, over the walk of
:func:`gpu_requests`). Buffers, when the allocator can make sub-buffers, go through the
core's offset planner (:func:`mace_core.memory.offsets.best_offsets`): one arena buffer
per session and a sub-buffer at the planned offset (aligned to the device's base address
alignment) per request, so buffer memory is the offset plan's arena, at or near the lower
bound. Images (and buffers without sub-buffers) are planned in two passes: each request
joins the block, among those free over its steps, that grows least (a buffer to the
largest request it serves, an image to the widest and the tallest), or a new block when
growing would cost more; requests are placed in step
order and, again, largest first, and the smaller total is kept. Each block is then created
once at its final size, when one of its requests is first taken. A request the plan did not
foresee (Relayout allocates at its first run) takes the least wasteful created block free
over its steps that already fits it, else a new block of its own size.

Graph outputs and tensors some non-GPU kernel reads (with their view groups) are *pinned*:
live through the last step, so nothing else ever takes their bytes (in the buffer arena),
and as images they get blocks of their own, never shared.

Blocks record the steps they are busy as intervals, so a block is never handed to two
requests whose steps overlap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from mace_core.ir import Graph, Node
from mace_core.memory.lifetimes import VIEW_OPS, Storage, align
from mace_core.memory.offsets import best_offsets
from mace_gpu_opencl.tensor import BUFFER, IMAGE, View, grid, view4

DEFAULT_IMAGE_MAX = (16384, 16384)
DEFAULT_BASE_ALIGN = 128  # bytes; what the report assumes (PoCL: 128, NVIDIA: 512)


def texel_bytes(half: bool) -> int:
    return 8 if half else 16


def padded_bytes(view: View, half: bool) -> int:
    """Bytes of a view in GPU storage (texel grid, channels padded to four)."""
    width, height = grid(view)
    return max(width * height * texel_bytes(half), 16)


@attrs.frozen
class Lifetimes:
    """Step of every node, release step and pinning of every produced tensor."""

    step: dict[int, int]  # id(node) -> position in graph.nodes
    release: dict[str, int]
    pinned: frozenset[str]


def gpu_lifetimes(graph: Graph, on_gpu: Callable[[Node], bool]) -> Lifetimes:
    """Release steps over ``graph.nodes`` (view groups share the last reader of any member);
    pinned: graph outputs and tensors read by a node ``on_gpu`` rejects, with their groups."""
    root: dict[str, str] = {}
    last: dict[str, int] = {}
    end = len(graph.nodes) - 1
    for step, node in enumerate(graph.nodes):
        for name in node.inputs:
            if name in root:
                last[root[name]] = step
        for index, name in enumerate(node.outputs):
            if not name:
                continue
            source = node.inputs[0] if node.inputs else ""
            view = index == 0 and node.domain == "" and node.op_type in VIEW_OPS
            root[name] = root[source] if view and source in root else name
            last.setdefault(root[name], step)
    pinned_roots = {root[n] for n in graph.outputs if n in root}
    for node in graph.nodes:
        if not on_gpu(node):
            pinned_roots |= {root[n] for n in node.inputs if n in root}
    for name in pinned_roots:
        last[name] = end
    return Lifetimes(
        step={id(node): i for i, node in enumerate(graph.nodes)},
        release={name: last[r] for name, r in root.items()},
        pinned=frozenset(name for name, r in root.items() if r in pinned_roots),
    )


@attrs.define
class Block:
    """One image or buffer and the step intervals it serves (``mem`` None until created)."""

    storage: str
    half: bool
    extent: tuple[int, ...]  # (width, height) texels for images, (bytes,) for buffers
    mem: Any
    pinned: bool = False
    busy: list[tuple[int, int]] = attrs.Factory(list)

    @property
    def nbytes(self) -> int:
        return extent_bytes(self.storage, self.half, self.extent)

    def free(self, first: int, last: int) -> bool:
        return not self.pinned and all(b < first or last < a for a, b in self.busy)


def extent_bytes(storage: str, half: bool, extent: tuple[int, ...]) -> int:
    """Bytes of a block of ``extent`` (texels for images, bytes for buffers)."""
    if storage == IMAGE:
        return extent[0] * extent[1] * texel_bytes(half)
    return extent[0]


def need_extent(view: View, storage: str, half: bool) -> tuple[int, ...]:
    """The extent a view needs: its texel grid for images, its padded bytes for buffers."""
    return grid(view) if storage == IMAGE else (padded_bytes(view, half),)


# (node, output view, storage, precision) of one planned output
Request = tuple[Node, View, str, bool]


class Allocator:
    """Blocks of one session: ``make(storage, half, extent)`` creates a block's memory;
    ``sub(mem, offset, nbytes)``, when given, a sub-buffer of a buffer block's memory (then
    buffers are offset-planned in one arena, offsets multiples of ``alignment`` bytes)."""

    def __init__(self, lifetimes: Lifetimes, make: Callable[[str, bool, tuple], Any],
                 sub: Callable[[Any, int, int], Any] | None = None,
                 alignment: int = DEFAULT_BASE_ALIGN) -> None:
        self.lifetimes = lifetimes
        self.make = make
        self.sub = sub
        self.alignment = alignment
        self.blocks: list[Block] = []  # created blocks
        self.requests: list[tuple[int, int, int]] = []  # (first, last, padded bytes)
        # id(node) -> [(storage, half, extent, planned block, arena offset or None)]
        self._slots: dict[int, list[tuple[str, bool, tuple[int, ...], Block, int | None]]] = {}

    def interval(self, node: Node) -> tuple[int, int, bool] | None:
        """``(first, release, pinned)`` of the node's outputs; None for an unknown node."""
        step = self.lifetimes.step.get(id(node))
        if step is None:
            return None
        names = [n for n in node.outputs if n]
        release = max([self.lifetimes.release.get(n, step) for n in names], default=step)
        return step, release, any(n in self.lifetimes.pinned for n in names)

    def plan(self, requests: list[Request]) -> None:
        """Assign the outputs a session will take to blocks ahead of time (see the module
        docstring); blocks are created at their final size when first taken."""
        spans = []
        for node, view, storage, half in requests:
            span = self.interval(node)
            if span is not None:
                spans.append((*span, storage, half, need_extent(view, storage, half), node))
        if self.sub is not None:
            # pinned requests too: live to the last step, no other request overlaps them
            arena = [s for s in spans if s[3] == BUFFER]
            spans = [s for s in spans if s[3] != BUFFER]
            self._plan_arena(arena)
        best: list[Block] | None = None
        for order in (spans, sorted(spans, key=lambda r: -extent_bytes(r[3], r[4], r[5]))):
            blocks, placed = _assign(order)
            if best is None or sum(b.nbytes for b in blocks) < sum(b.nbytes for b in best):
                best, chosen = blocks, placed
        if best is None:
            return
        for (_, _, _, storage, half, extent, node), block in chosen:
            self._slots.setdefault(id(node), []).append((storage, half, extent, block, None))

    def _plan_arena(self, spans: list[tuple]) -> None:
        """Offsets of the buffer requests in one arena block (the core offset planner)."""
        if not spans:
            return
        blocks = [Storage(str(i), align(s[5][0], self.alignment), s[0], s[1], (str(i),))
                  for i, s in enumerate(spans)]
        offsets, size, _ = best_offsets(blocks)
        arena = Block(BUFFER, False, (max(size, 16),), None, pinned=True)
        for i, (first, last, _, storage, half, extent, node) in enumerate(spans):
            arena.busy.append((first, last))
            slot = (storage, half, extent, arena, offsets[str(i)])
            self._slots.setdefault(id(node), []).append(slot)

    def _planned(self, node: Node, storage: str, half: bool,
                 need: tuple[int, ...]) -> tuple[Block, int | None] | None:
        slots = self._slots.get(id(node), [])
        for index, (s, h, extent, block, offset) in enumerate(slots):
            if (s, h) == (storage, half) and _fits(block.extent, need) and extent == need:
                del slots[index]
                return block, offset
        return None

    def take(self, node: Node, view: View, storage: str, half: bool) -> Any:
        """Memory for one output view of ``node`` (None when the node is not in the graph)."""
        span = self.interval(node)
        if span is None:
            return None
        first, last, pinned = span
        need = need_extent(view, storage, half)
        self.requests.append((first, last, padded_bytes(view, half)))
        planned = self._planned(node, storage, half, need)
        if planned is not None:
            block, offset = planned
            if block.mem is None:
                block.mem = self.make(block.storage, block.half, block.extent)
                self.blocks.append(block)
            if offset is None or self.sub is None:
                return block.mem
            return self.sub(block.mem, offset, need[0])
        fitting = [b for b in self.blocks
                   if (b.storage, b.half) == (storage, half) and b.free(first, last)
                   and _fits(b.extent, need)]
        if pinned or not fitting:
            block = Block(storage, half, need, self.make(storage, half, need), pinned)
            self.blocks.append(block)
        else:
            block = min(fitting, key=lambda b: b.nbytes)  # least waste
        block.busy.append((first, last))
        return block.mem

    @property
    def planned(self) -> int:
        return sum(b.nbytes for b in self.blocks)

    @property
    def no_reuse(self) -> int:
        return sum(r[2] for r in self.requests)

    @property
    def lower_bound(self) -> int:
        steps = max((r[1] for r in self.requests), default=-1) + 2
        deltas = [0] * steps
        for first, last, nbytes in self.requests:
            deltas[first] += nbytes
            deltas[last + 1] -= nbytes
        best = running = 0
        for delta in deltas:
            running += delta
            best = max(best, running)
        return best


def _fits(have: tuple[int, ...], want: tuple[int, ...]) -> bool:
    return all(h >= w for h, w in zip(have, want, strict=True))


def _assign(spans: list[tuple]) -> tuple[list[Block], list[tuple[tuple, Block]]]:
    """Blocks (at their final extents, busy over their requests' steps) for ``spans`` of
    ``(first, last, pinned, storage, half, extent, node)`` taken in the order given: each
    joins the free block that grows least (ties: least waste), or a new one when growing
    would cost more than the request's own size."""
    blocks: list[Block] = []
    placed: list[tuple[tuple, Block]] = []
    for span in spans:
        first, last, pinned, storage, half, need, _ = span
        own = extent_bytes(storage, half, need)
        choice, cost = None, (own, 0)
        if not pinned:
            for block in blocks:
                if (block.storage, block.half) != (storage, half) or not block.free(first, last):
                    continue
                grown = tuple(max(h, w) for h, w in zip(block.extent, need, strict=True))
                size = extent_bytes(storage, half, grown)
                key = (size - block.nbytes, size - own)
                if key < cost:
                    choice, cost = block, key
        if choice is None:
            choice = Block(storage, half, need, None, pinned)
            blocks.append(choice)
        else:
            choice.extent = tuple(max(h, w) for h, w in zip(choice.extent, need, strict=True))
        choice.busy.append((first, last))
        placed.append((span, choice))
    return blocks, placed


def gpu_requests(graph: Graph, on_gpu: Callable[[Node], bool], storage: str, half: bool,
                 fits: Callable[[View], bool]) -> list[Request]:
    """The outputs a session's GPU kernels take, in graph order: a node's storage is
    ``storage`` unless one of its tensors does not ``fit`` an image (then buffer); view
    ops whose 4-D view is unchanged take no memory."""
    requests: list[Request] = []
    placed: set[str] = set()
    for node in graph.nodes:
        if not on_gpu(node):
            continue
        names = [n for n in node.inputs + node.outputs
                 if n and n not in graph.constants and n in graph.tensors]
        fit = all(fits(view4(graph.desc(n).shape)) for n in names)
        kind = IMAGE if storage == IMAGE and fit else BUFFER
        for index, name in enumerate(node.outputs):
            if not name:
                continue
            placed.add(name)
            source = node.inputs[0] if node.inputs else ""
            out_view = view4(graph.desc(name).shape)
            if (index == 0 and node.op_type in VIEW_OPS and source in placed
                    and view4(graph.desc(source).shape) == out_view):
                continue
            requests.append((node, out_view, kind, half))
    return requests


def gpu_memory_report(graph: Graph, storage: str = IMAGE, half: bool = False,
                      image_max: tuple[int, int] = DEFAULT_IMAGE_MAX,
                      alignment: int = DEFAULT_BASE_ALIGN, arena: bool = True
                      ) -> dict[str, int]:
    """The GPU output memory of ``graph`` with every node a GPU kernel takes on the GPU
    (no device needed): ``lower_bound`` (most bytes of GPU tensors live at one step, in
    their padded storage), ``planned`` (blocks of the allocator), ``no_reuse`` (one block
    per output), ``blocks`` and ``tensors`` (counts). A node's storage is ``storage`` unless
    one of its tensors exceeds ``image_max`` (then buffer), as in a session; view ops whose
    4-D view is unchanged take no memory; buffers are offset-planned in one arena with
    offsets aligned to ``alignment`` bytes, or with ``arena=False`` reused as whole blocks
    (``gpu_buffer_arena`` off: the default on NVIDIA). Intermediate tensors of a kernel are
    not counted.
    """
    from mace_gpu_opencl.kernels import gpu_accepts

    on_gpu = {id(n): gpu_accepts(n, graph) for n in graph.nodes}
    lifetimes = gpu_lifetimes(graph, lambda n: on_gpu[id(n)])
    allocator = Allocator(lifetimes, lambda *_: 0, sub=(lambda *_: 0) if arena else None,
                          alignment=alignment)

    def fits(view: View) -> bool:
        width, height = grid(view)
        return 0 < width <= image_max[0] and 0 < height <= image_max[1]

    requests = gpu_requests(graph, lambda n: on_gpu[id(n)], storage, half, fits)
    allocator.plan(requests)
    for node, view, kind, precision in requests:
        allocator.take(node, view, kind, precision)
    return {"lower_bound": allocator.lower_bound, "planned": allocator.planned,
            "no_reuse": allocator.no_reuse, "blocks": len(allocator.blocks),
            "tensors": len(allocator.requests)}


def format_gpu_memory_table(rows: list[tuple[str, dict[str, int]]]) -> str:
    """A text table of ``(model, gpu_memory_report(...))`` rows, sizes in KiB."""
    head = ("model", "lower bound", "planned", "no reuse", "blocks", "tensors")
    lines = [f"{head[0]:<28}" + "".join(f"{h:>14}" for h in head[1:])]
    for name, r in rows:
        sizes = [f"{r[k] / 1024:.1f} KiB" for k in ("lower_bound", "planned", "no_reuse")]
        lines.append(f"{name:<28}" + "".join(f"{s:>14}" for s in sizes)
                     + f"{r['blocks']:>14}{r['tensors']:>14}")
    return "\n".join(lines)
