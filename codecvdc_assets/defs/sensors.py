"""`video_files`: registers every new video file under the configured roots as a partition.

Roots are folders (or files) and ``s3://bucket/prefix/`` prefixes. Each evaluation examines at most
`MAX_PER_TICK` entries, continuing where the last one stopped (the cursor holds the last key or path seen
per root: storage/video_sources.py), so a 100K-file root or bucket is taken in bounded slices and never
walked in full on one tick; a root whose listing runs out starts over, which finds files added behind the
cursor. Reads only inside the roots (links leading out are skipped) and never builds a key from a raw name
(ids are sanitized, video/ids.py).
"""

import json

import dagster as dg

from codecvdc_assets.defs.partitions import videos_partitions
from codecvdc_assets.defs.resources import LakeResource, VideoRootsResource
from codecvdc_assets.defs.stale_runs import stale_run_requests
from codecvdc_assets.runs.batching import DEFAULT_BATCH
from codecvdc_assets.storage.blobs import is_s3_url
from codecvdc_assets.storage.registry import VideoRootError, check_root
from codecvdc_assets.storage.video_sources import s3_fingerprints, scan_roots

MAX_PER_TICK = 1000  # entries listed per evaluation, over all roots
# stale_assets: videos examined per evaluation (a cursor walks the rest). At the default 60 s interval,
# 3,000 a tick requests a pass over 118K videos in 40 minutes (50 videos/s); a tick's planning is a few
# batched queries per asset (bench suite `pool` measures it against the 60 s sensor timeout).
VIDEOS_PER_TICK = 3000


def build_video_files_sensor(interval_s: int = 30) -> dg.SensorDefinition:
    return dg.sensor(
        name="video_files",
        minimum_interval_seconds=interval_s,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Register new video files under the profile's video_roots as `videos` partitions.",
    )(register_new_videos)


def register_new_videos(
    context: dg.SensorEvaluationContext, lake: LakeResource, video_roots: VideoRootsResource
) -> dg.SensorResult:
    roots = []
    for root in (r for r in video_roots.roots if r):
        try:
            if not is_s3_url(root):
                check_root(root)
            roots.append(root)
        except VideoRootError as exc:
            context.log.warning(f"{exc}: skipped")
    client = lake.s3_client() if any(is_s3_url(r) for r in roots) else None
    found, cursor = scan_roots(roots, json.loads(context.cursor or "{}"), MAX_PER_TICK, client)
    registry = lake.registry()
    known = {src.path: registry.known(src.path, src.size, src.mtime) for src in found}
    new_objects = [src for src in found if known[src.path] is None and is_s3_url(src.path)]
    prints = s3_fingerprints(client, new_objects) if new_objects else {}
    existing = set(context.instance.get_dynamic_partitions(videos_partitions.name))
    new_ids: list[str] = []
    for src in found:
        try:
            video_id = known[src.path]
            if video_id is None and is_s3_url(src.path):
                video_id = registry.register_source(src, lambda p=prints[src.path]: _ok(p))[0].video_id
            elif video_id is None:
                video_id = registry.register(src.path)[0].video_id
        except Exception as exc:  # a vanished or unreadable file must not stop the others
            context.log.warning(f"{src.path}: skipped ({exc})")
            continue
        if video_id not in existing:
            existing.add(video_id)
            new_ids.append(video_id)
    state = json.dumps(cursor, sort_keys=True)
    if not new_ids:
        return dg.SensorResult(skip_reason=f"no new videos in this slice of {len(roots)} root(s)", cursor=state)
    context.log.info(f"registering {len(new_ids)} new video(s)")
    return dg.SensorResult(dynamic_partitions_requests=[videos_partitions.build_add_request(new_ids)], cursor=state)


video_files_sensor = build_video_files_sensor()


def _ok(fingerprint: str | Exception) -> str:
    if isinstance(fingerprint, Exception):
        raise fingerprint
    return fingerprint


def build_stale_sensor(defs_provider, batch_size: int = DEFAULT_BATCH, interval_s: int = 60):
    """`defs_provider()` returns the current Definitions (whose code versions say what is stale).

    The target is every asset (as the schedule's): each RunRequest names its own asset_selection, and the
    daemon refuses RunRequests from a sensor without a target."""

    @dg.sensor(
        name="stale_assets",
        minimum_interval_seconds=interval_s,
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Re-materialize, per video, the assets that are missing, stale (prompt, model or "
        "parameter change; upstream re-materialized) or failed, and their downstream assets.",
    )
    def stale_assets_sensor(context: dg.SensorEvaluationContext, lake: LakeResource):
        keys = context.instance.get_dynamic_partitions(videos_partitions.name)  # range order: keep it
        start = int(context.cursor or 0)
        if start >= len(keys):
            start = 0
        batch = keys[start : start + VIDEOS_PER_TICK]
        requests = stale_run_requests(context, defs_provider(), lake, batch, batch_size)
        return dg.SensorResult(run_requests=requests, cursor=str(start + len(batch)))

    return stale_assets_sensor
