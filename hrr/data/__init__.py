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

from typing import TYPE_CHECKING

from hrr._lazy import lazy_namespace

_EXPORTS = {
    "UpsamplingWarning": "hrr._pixels",
    "Batch": "hrr.data._dataset",
    "FailureLog": "hrr.data._dataset",
    "ImageDataset": "hrr.data._dataset",
    "SizeBucketSampler": "hrr.data._dataset",
    "check_samples": "hrr.data._dataset",
    "collate_skip_bad": "hrr.data._dataset",
    "read_sizes": "hrr.data._dataset",
    "LAYOUTS": "hrr.data._layouts",
    "Sample": "hrr.data._layouts",
    "count_samples": "hrr.data._layouts",
    "detect_layout": "hrr.data._layouts",
    "group_samples": "hrr.data._layouts",
    "label_from_dirname": "hrr.data._layouts",
    "scan_dataset": "hrr.data._layouts",
    "TestTransform": "hrr.data._transforms",
    "TrainAugment": "hrr.data._transforms",
    "gaussian_blur": "hrr.data._transforms",
    "jpeg_compress": "hrr.data._transforms",
    "resize_image": "hrr.data._transforms",
}
__getattr__, __dir__ = lazy_namespace(__name__, _EXPORTS, globals())

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

if TYPE_CHECKING:  # what static analysers and IDEs see; the names load on first use
    from hrr._pixels import UpsamplingWarning
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
