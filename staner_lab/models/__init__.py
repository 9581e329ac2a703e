"""STANER and its parts: VGG front end, attention, SGAER, C-LSTM, TLER."""

from .attention import AttentionModule
from .clstm import CLSTM, RegionCNN
from .sgaer import SGAER
from .staner import STANER, build_model
from .tler import TLER
from .vgg import VGGFrontEnd, VGGWeightsError, load_vgg16_weights

__all__ = [
           "CLSTM",
           "SGAER",
           "STANER",
           "TLER",
           "AttentionModule",
           "RegionCNN",
           "VGGFrontEnd",
           "VGGWeightsError",
           "build_model",
           "load_vgg16_weights",
]
