"""The embedded backend: classical computer vision for frames, rules for text. Offline, deterministic,
CPU only. An honest floor for offline runs and CI, not a stand-in for a VLM's quality."""
