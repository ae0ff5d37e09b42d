"""Which assets a run covers: dependency order, per-video and dataset-level keys, whole multi-assets."""

from __future__ import annotations

import dagster as dg


def asset_order(defs: dg.Definitions) -> list[dg.AssetKey]:
    """Asset keys in dependency order."""
    graph = defs.resolve_asset_graph()
    return list(graph.toposorted_asset_keys)


def per_video_keys(defs: dg.Definitions) -> list[dg.AssetKey]:
    graph = defs.resolve_asset_graph()
    return [k for k in asset_order(defs) if graph.get(k).partitions_def is not None]


def split_keys(
    defs: dg.Definitions, keys: list[dg.AssetKey]
) -> tuple[list[dg.AssetKey], list[dg.AssetKey], list[dg.AssetKey]]:
    """(dataset-level assets to run first, per-video assets, dataset-level assets to run after them)."""
    graph = defs.resolve_asset_graph()
    per_video = [k for k in keys if graph.get(k).partitions_def is not None]
    pre, post = [], []
    for key in keys:
        if key in per_video:
            continue
        ancestors = graph.get(key).parent_keys
        stack, seen, partitioned_above = list(ancestors), set(), False
        while stack:
            parent = stack.pop()
            if parent in seen:
                continue
            seen.add(parent)
            if graph.get(parent).partitions_def is not None:
                partitioned_above = True
                break
            stack.extend(graph.get(parent).parent_keys)
        (post if partitioned_above else pre).append(key)
    return pre, per_video, post


def expand_selection(defs: dg.Definitions, names: list[str] | None) -> list[dg.AssetKey]:
    """Selected asset keys, widened to whole multi-assets (segments and frames share one decode)."""
    keys = asset_order(defs)
    if not names:
        return keys
    by_name = {k.to_user_string(): k for k in keys}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"unknown asset(s): {', '.join(unknown)}; known: {', '.join(by_name)}")
    graph = defs.resolve_asset_graph()
    chosen: set[dg.AssetKey] = set()
    for name in names:
        node = graph.get(by_name[name])
        chosen.update(k for k in graph.get_execution_set_asset_and_check_keys(node.key) if k in by_name.values())
    return [k for k in keys if k in chosen]
