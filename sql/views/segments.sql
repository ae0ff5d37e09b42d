-- Scene-aligned segments: one row per segment, with the boundary source and the confirming I-frame.
SELECT * FROM read_parquet({glob:segments}, union_by_name = true)
