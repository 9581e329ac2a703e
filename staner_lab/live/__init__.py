"""Recognition outside the dataset pipeline.

- ``recognizer.py``: ``StreamingRecognizer``, frame by frame, carrying each region's LSTM state.
- ``video.py``: ``VideoSource``, frames of a file or a camera with errors that name the source.
- ``annotate.py``: drawing a frame's result (face, regions, probabilities) on the frame.
- ``predict.py``: one prediction for a video, a folder of frames or a CK+ sequence folder.
- ``cli.py``: ``staner-lab predict | live``.
"""
