-- vidcapqa_pool: VidCapQA construction (README, VidCapQA).
SELECT * FROM read_parquet({glob:vidcapqa_pool}, union_by_name = true)
