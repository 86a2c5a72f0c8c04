"""Detector data: dataset layouts, augmentation and test-time transforms, a fault-tolerant torch dataset.

Public API
----------
Sample, scan_dataset, detect_layout, group_samples, count_samples, label_from_dirname
    Read ForenSynths/CNNDetection, GenImage, plain real/fake and `hrr regenerate` output folders as they are.
TrainAugment, TestTransform, resize_image, gaussian_blur, jpeg_compress, UpsamplingWarning
    CNNDetection-style training augmentation; deterministic resize/JPEG/blur/crop for test sweeps; the warning
    emitted when an image smaller than a target size is enlarged.
ImageDataset, collate_skip_bad, Batch, SizeBucketSampler, read_sizes, FailureLog, check_samples
    Loading that reports bad files instead of crashing, batching of un-cropped images by size, and the check
    that an argument is a list of Sample.
"""

from hrr._images import UpsamplingWarning
from hrr.data._dataset import (
    Batch,
    FailureLog,
    ImageDataset,
    SizeBucketSampler,
    check_samples,
    collate_skip_bad,
    read_sizes,
)
from hrr.data._layouts import (
    LAYOUTS,
    Sample,
    count_samples,
    detect_layout,
    group_samples,
    label_from_dirname,
    scan_dataset,
)
from hrr.data._transforms import TestTransform, TrainAugment, gaussian_blur, jpeg_compress, resize_image

__all__ = [
    "LAYOUTS",
    "Batch",
    "FailureLog",
    "ImageDataset",
    "Sample",
    "SizeBucketSampler",
    "TestTransform",
    "TrainAugment",
    "UpsamplingWarning",
    "check_samples",
    "collate_skip_bad",
    "count_samples",
    "detect_layout",
    "gaussian_blur",
    "group_samples",
    "jpeg_compress",
    "label_from_dirname",
    "read_sizes",
    "resize_image",
    "scan_dataset",
]
