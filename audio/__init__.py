"""Audio analysis for audio-reactive animation (per-video-frame features from a song)."""
from audio.analysis import (
    AudioError,
    AudioFeatures,
    FeatureCache,
    analyze,
    analyze_cached,
    load_audio,
)

__all__ = ["AudioError", "AudioFeatures", "FeatureCache", "analyze", "analyze_cached", "load_audio"]
