"""`camstudy evaluate`: objective faithfulness, localization and shape measurements of the
maps, and the evaluation.csv/.md/.json tables."""
