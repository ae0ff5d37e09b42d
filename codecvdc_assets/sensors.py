"""`video_files`: registers every new video file under the configured roots as a partition.

Reads only inside the roots (links leading out are skipped), never builds a key from a raw name
(ids are sanitized, video/ids.py), and registers at most `MAX_PER_TICK` files per evaluation so a
100K-file root is taken in bounded batches (the next tick continues where this one stopped).
"""

import dagster as dg

from .automation import stale_run_requests
from .partitions import videos_partitions
from .resources import LakeResource, VideoRootsResource
from .storage.registry import VideoRootError, find_videos

MAX_PER_TICK = 1000
VIDEOS_PER_TICK = 200  # stale_assets: videos examined per evaluation (a cursor walks the rest)


@dg.sensor(
    name="video_files",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Register new video files under the profile's video_roots as `videos` partitions.",
)
def video_files_sensor(
    context: dg.SensorEvaluationContext, lake: LakeResource, video_roots: VideoRootsResource
) -> dg.SensorResult | dg.SkipReason:
    registry = lake.registry()
    existing = set(context.instance.get_dynamic_partitions(videos_partitions.name))
    new_ids: list[str] = []
    for root in video_roots.roots:
        try:
            paths = find_videos(root)
        except VideoRootError as exc:
            context.log.warning(f"{exc}: skipped")
            continue
        for path in paths:
            if len(new_ids) >= MAX_PER_TICK:
                break
            try:
                known = registry.known(path)
                video_id = known or registry.register(path)[0].video_id
            except OSError as exc:
                context.log.warning(f"{path}: skipped ({exc})")
                continue
            if video_id not in existing:
                existing.add(video_id)
                new_ids.append(video_id)
    if not new_ids:
        return dg.SkipReason(f"no new videos under {len(video_roots.roots)} root(s)")
    context.log.info(f"registering {len(new_ids)} new video(s)")
    return dg.SensorResult(dynamic_partitions_requests=[videos_partitions.build_add_request(new_ids)])


def build_stale_sensor(defs_provider, batch_size: int = 25):
    """`defs_provider()` returns the current Definitions (whose code versions say what is stale)."""

    @dg.sensor(
        name="stale_assets",
        minimum_interval_seconds=60,
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
