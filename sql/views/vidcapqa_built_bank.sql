-- vidcapqa_built_bank: VidCapQA construction (README, VidCapQA).
SELECT * FROM read_parquet({glob:vidcapqa_built_bank}, union_by_name = true)
