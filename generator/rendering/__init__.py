"""`camstudy generate`: from study.toml to the study directory of blinded A/B pairs (the run,
the overlays, the layout-free PNGs, sides and opaque names, manifest, pairs.csv, gallery, S3)."""
