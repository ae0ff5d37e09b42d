-- vidcapqa_decisions: VidCapQA construction (README, VidCapQA).
SELECT * FROM read_parquet({glob:vidcapqa_decisions}, union_by_name = true)
