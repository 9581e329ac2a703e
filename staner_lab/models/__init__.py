"""STANER and its parts: VGG front end, attention, SGAER, C-LSTM, TLER."""

from staner_lab.models.attention import AttentionModule
from staner_lab.models.clstm import CLSTM, RegionCNN
from staner_lab.models.sgaer import SGAER
from staner_lab.models.staner import STANER
from staner_lab.models.tler import TLER
from staner_lab.models.vgg import VGGFrontEnd, VGGWeightsError, load_vgg16_weights

__all__ = [
           "CLSTM",
           "SGAER",
           "STANER",
           "TLER",
           "AttentionModule",
           "RegionCNN",
           "VGGFrontEnd",
           "VGGWeightsError",
           "load_vgg16_weights",
]
