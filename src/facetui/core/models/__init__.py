"""Models: from an image file to numbers, with no file of the user's written.

``images`` decodes any photo safely (EXIF rotation, odd modes, size limits). ``faces`` detects, aligns and encodes
faces: dlib's HOG, or ``mmod_net``, dlib's CNN detector ported (its image work in ``mmod_numpy``); ``face_net`` is
dlib's ResNet descriptor network ported. On a CPU both networks run in ONNX Runtime (``onnxnets``, exported once per
machine into ``prepared``'s folder), in torch on CUDA or where ONNX Runtime is missing (``torchfreeze``).
``quality`` judges a face chip's sharpness. ``bodies``, ``bodysetup`` and ``bodyonnx`` hold OSNet re-id.
``matcher`` compares embeddings with the KB's; ``linkage`` groups face encodings that look like one person
(review's clusters; ``neighbours`` finds each face's nearest for large sets). ``analyze`` is the per-photo map step
(one photo in, one ``Analysis`` out) that a worker process runs, ``workerstart`` how those processes start and
``serverexit`` how their server leaves. Heavy imports (torch, dlib, onnxruntime, faiss) load on first use.
"""
