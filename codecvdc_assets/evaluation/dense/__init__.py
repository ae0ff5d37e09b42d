"""Dense-captioning metrics exact to the official tools (README "Caption metrics").

- `inputs`: ActivityNet Captions / YouCook2 / SoccerNet-Caption layouts;
- `protocols`: the ActivityNet protocol (tIoU thresholds) and SoccerNet-Caption's single-timestamp protocol;
- `coco`: pycocoevalcap's scorers with the JVM started once per evaluation;
- `results`: `caption_metrics` rows (bootstrap CIs over videos) and the official scripts' printout;
- `lake_predictions`: CodecCap's captions in the lake as dense predictions.
"""
