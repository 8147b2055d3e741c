"""Datasets: PoseTrack formats, synthetic data, download, detection boxes, frame images, crop views and the
person-crop cache.

Modules, bottom to top: ``jsonpath`` (the JSON reader every format shares), ``posetrack`` (PoseTrack files),
``boxes`` (detection box files and the rule that keeps a box), ``images`` (frames decoded and verified),
``views`` (a person box → a cut, augmented view), ``persons`` (which persons become crops: their boxes),
``cropstore`` (the crop store's files and their reader), ``crops`` (the crops stage); ``synthetic`` and
``download`` (packages of their own) make and fetch the data sets."""
