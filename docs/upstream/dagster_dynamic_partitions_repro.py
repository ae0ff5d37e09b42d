"""Minimal reproduction: a run over a 25-key range of a DynamicPartitionsDefinition loads *all* keys of the
definition once per add_asset_metadata(partition_key=...) call, per context.partition_keys, per output and
per planned asset: its cost grows with the number of partitions in the instance, not with the run."""

import sys
import time

import dagster as dg

videos = dg.DynamicPartitionsDefinition(name="videos")


@dg.asset(partitions_def=videos, backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=25))
def probe(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    for key in context.partition_keys:
        context.add_asset_metadata({"size": len(key)}, partition_key=key)
    return dg.MaterializeResult(metadata={"videos_in_run": len(context.partition_keys)})


@dg.asset(partitions_def=videos, deps=[probe], backfill_policy=dg.BackfillPolicy.multi_run(max_partitions_per_run=25))
def caption(context: dg.AssetExecutionContext) -> None:
    for key in context.partition_keys:
        context.add_asset_metadata({"words": 3}, partition_key=key)


def main(pool: int) -> None:
    with dg.instance_for_test() as instance:
        keys = [f"video-{i:06d}" for i in range(pool)]
        instance.add_dynamic_partitions("videos", keys)
        calls = 0
        load = type(instance).get_dynamic_partitions

        def counted(self, partitions_def_name):
            nonlocal calls
            calls += 1
            return load(self, partitions_def_name)

        type(instance).get_dynamic_partitions = counted
        started = time.perf_counter()
        result = dg.materialize(
            [probe, caption],
            instance=instance,
            tags={"dagster/asset_partition_range_start": keys[-25], "dagster/asset_partition_range_end": keys[-1]},
        )
        assert result.success
        print(
            f"{pool:>7} partitions: {calls} get_dynamic_partitions calls, {calls * pool:,} keys read, "
            f"run {time.perf_counter() - started:.1f} s"
        )
        type(instance).get_dynamic_partitions = load


if __name__ == "__main__":
    for n in map(int, sys.argv[1:] or ["1000", "10000", "118257"]):
        main(n)
