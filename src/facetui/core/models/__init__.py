"""Models: from an image file to numbers, with no file of the user's written. By task, then by runtime:

- ``images``: decodes any photo safely (EXIF rotation, odd modes, size limits).
- ``face/``: face boxes, aligned chips, sharpness and 128-d descriptors (dlib's models, its CNN detector and ResNet
  ported to run fast).
- ``body/``: OSNet re-id embeddings of the person below each face, from the user's weights file.
- ``compare/``: embeddings against the KB's (``matcher``) and against each other (``linkage``, review's clusters).
- ``runtime/``: what runs the networks (ONNX Runtime files prepared once per machine, torch freezing).
- ``workers/``: how the analysis worker processes start and leave.
- ``analyze``: the per-photo map step a worker runs, one photo in and one ``Analysis`` out.

Heavy imports (torch, dlib, onnxruntime, faiss) load on first use.
"""
