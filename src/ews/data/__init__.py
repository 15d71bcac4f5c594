"""Datasets as float [0, 1] image tensors, their augmentations and stratified subsets."""

from .augment import train_transform
from .datasets import DATASET_NAMES, DatasetInfo, labels_of, load
from .subsets import stratified_fraction, stratified_limit

__all__ = [
    "DATASET_NAMES",
    "DatasetInfo",
    "labels_of",
    "load",
    "stratified_fraction",
    "stratified_limit",
    "train_transform",
]
