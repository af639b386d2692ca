"""Constants shared by tests (importable because pytest puts tests/ on sys.path)."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]

#: Three multiple-choice questions of different option counts, for tests of the hf backend's
#: per-image fast paths (tests/models/test_hf_fast_path.py, tests/scale/test_preprocess_once.py).
MCQ_QUESTIONS = [
    ("What is the gender of the person in the image?", ["Male", "Female"]),
    ("What is the age of the person?", ["0-2", "3-9", "10-19", "20-29"]),
    ("Is the person wearing glasses?", ["Yes", "No", "None of the above"]),
]
