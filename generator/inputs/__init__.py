"""What goes into a study: the images and their labels (a folder with a CSV, PASCAL VOC, the
synthetic demo scenes), the model's preprocessing, the demo CNN and `camstudy train`."""
