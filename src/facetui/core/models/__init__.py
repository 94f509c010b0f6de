"""Models: from an image file to numbers, with no file of the user's written.

``images`` decodes any photo safely (EXIF rotation, odd modes, size limits); ``faces`` detects, aligns and
encodes faces (dlib's HOG, or ``mmod_net``: dlib's CNN detector ported to torch; ``face_net``: dlib's ResNet
in torch); ``quality`` judges a face chip's sharpness; ``bodies`` and ``bodysetup`` hold OSNet re-id;
``matcher`` compares embeddings with the KB's; ``linkage`` groups face encodings that look like one person (review's
clusters; ``neighbours`` finds each face's nearest for large sets); ``analyze`` is the per-photo map step (one photo in, one
``Analysis`` out) that a worker process runs, ``workerstart`` how those processes start and ``serverexit`` how
their server leaves. Heavy imports (torch, dlib) load on first use.
"""
