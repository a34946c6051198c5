"""The content files hold the whole sheet, and nothing it does not say; the loader names what is wrong.

Why so literal: every instruction, number and warning the bot gives must come from the sheet or a named
clinical source (DESIGN.md), so these tests pin the numbers and the wording, and fail on an invented one.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from content.loader import CONTENT_DIR, Content, ContentError, load_content

SHEET = Path(__file__).resolve().parents[3] / "shared" / "seed" / "exercises-to-help-your-back.txt"
STRETCHES_WITH_HOLD = ["hamstring_stretch", "single_knee_to_chest", "hip_flexor_stretch", "hip_rotator_stretch"]
EXERCISE_IDS = ["wall_slides", "pelvic_tilt", *STRETCHES_WITH_HOLD]
KNOWN_SOURCES = {
    "sheet",
    "nhs_back_pain",
    "nhs_cauda_equina",
    "nhs_urgent_mental_health",
    "samaritans",
    "lifeline_988",
    "nhs_chest_pain",
    "nhs_heart_attack",
}


@pytest.fixture(scope="module")
def content() -> Content:
    return load_content()


def _norm(text: str) -> str:
    """Compare wording, not layout: quotes, dashes, case and line breaks do not matter."""
    text = text.translate(str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "—": " ", "–": "-"}))
    return re.sub(r"\s+", " ", text).strip().lower()


def _numbers(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"\d+", text)}


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_load_content_validates(content: Content) -> None:
    assert content.program.title == "Exercises to Help Your Back"
    assert [e.id for e in content.program.exercises] == EXERCISE_IDS


def test_stretches_hold_20_to_40_seconds_both_sides(content: Content) -> None:
    for exercise_id in STRETCHES_WITH_HOLD:
        exercise = content.program.exercise(exercise_id)
        assert exercise.kind == "stretching"
        assert exercise.dosage.hold_seconds is not None
        assert (exercise.dosage.hold_seconds.low, exercise.dosage.hold_seconds.high) == (20, 40)
        assert exercise.dosage.sides == "both"
        assert exercise.dosage.hold_text == "Hold without bouncing for 20 to 40 seconds; then switch sides."
        assert not any("hold without bouncing" in s.lower() for s in exercise.steps), "hold belongs in dosage"
        assert exercise.steps[-1].startswith("Feel the stretch")


def test_hip_rotator_has_the_towel_variant(content: Content) -> None:
    variants = content.program.exercise("hip_rotator_stretch").variants
    assert len(variants) == 1 and "rolled towel behind your knee" in variants[0]


def test_pelvic_tilt_reps_progression_and_count(content: Content) -> None:
    tilt = content.program.exercise("pelvic_tilt")
    assert tilt.kind == "stretching"
    assert tilt.dosage.repetitions_start is not None
    assert (tilt.dosage.repetitions_start.low, tilt.dosage.repetitions_start.high) == (1, 5)
    assert tilt.dosage.repetitions_goal == 10
    assert "as tolerated" in tilt.dosage.progression and "10 repetitions" in tilt.dosage.progression
    assert tilt.dosage.hold_seconds is None
    assert tilt.dosage.count == [
        "1 as you bring your back toward the floor",
        "2 to neutral",
        "3 back away from the floor",
        "4 to neutral",
    ]
    assert len(tilt.steps) == 2


def test_wall_slides_four_steps_and_no_invented_hold_time(content: Content) -> None:
    slides = content.program.exercise("wall_slides")
    assert slides.kind == "strengthening"
    assert len(slides.steps) == 4
    assert slides.steps[0].startswith("Stand with your back against the wall")
    assert "neutral spine" in slides.steps[1]
    assert "several inches" in slides.steps[2]
    assert slides.steps[3] == "Hold this position."
    assert slides.dosage.hold_seconds is None
    assert slides.dosage.hold_text == "Hold this position."
    assert not any(re.search(r"\d+\s*(s\b|sec)", s) for s in _strings(slides.model_dump()))


def test_general_activity_numbers_and_tests(content: Content) -> None:
    activity = content.program.general_activity
    assert (activity.daily_minutes.low, activity.daily_minutes.high) == (30, 60)
    assert activity.days == "most days of the week"
    assert activity.min_bout_minutes == 10
    assert "10 minutes" in activity.split_note and "30 to 60 minutes" in activity.split_note
    assert (activity.exertion.low, activity.exertion.high) == (4, 6)
    assert '1 means "no work"' in activity.exertion_scale
    assert '10 means "unable to continue"' in activity.exertion_scale
    assert "talk comfortably" in activity.talk_test and "slow down" in activity.talk_test
    assert "how long, how often, and how hard" in activity.progression
    assert "start slowly" in activity.progression
    assert set(activity.examples) == {"swimming", "walking"}
    assert content.program.choice_note == (
        "You do not need to do every exercise. Stick with the ones that help you the most, "
        "or do only the exercises your medical team recommends."
    )


def test_program_numbers_all_come_from_the_sheet(content: Content) -> None:
    sheet_numbers = {1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 60}
    numbers = set().union(*(_numbers(s) for s in _strings(content.program.model_dump())))
    assert numbers <= sheet_numbers, numbers - sheet_numbers


@pytest.mark.skipif(not SHEET.exists(), reason=f"sheet not found at {SHEET}")
def test_exercise_wording_is_the_sheets_own(content: Content) -> None:
    sheet = _norm(SHEET.read_text(encoding="utf-8"))
    for exercise in content.program.exercises:
        texts = [exercise.purpose, *exercise.steps, *exercise.variants, *exercise.dosage.count]
        texts += [t for t in (exercise.dosage.hold_text, exercise.dosage.progression) if t]
        for text in texts:
            assert _norm(text) in sheet, (exercise.id, text)
    activity = content.program.general_activity
    for text in (activity.talk_test, content.program.choice_note):
        assert _norm(text) in sheet, text


def test_rules_ids_actions_priorities_and_sources(content: Content) -> None:
    safety = content.safety
    expected = {
        "crisis": ("crisis", -1, "nhs_urgent_mental_health"),
        "cauda_equina": ("emergency", 0, "nhs_cauda_equina"),
        "chest_pain": ("stop_now_doctor", 1, "sheet"),
        "same_day": ("doctor_today_pause", 2, "nhs_back_pain"),
        "heart": ("hold_until_cleared", 3, "sheet"),
        "radiating": ("end_session_consult", 4, "sheet"),
        "neuro_change": ("consult_pause", 5, "sheet"),
        "spasm_flare": ("rest_pause", 6, "sheet"),
        "exercise_pain": ("stop_exercise", 7, "sheet"),
        "routine": ("suggest_consult", 8, "nhs_back_pain"),
    }
    assert {r.id: (r.action, r.priority, r.source) for r in safety.rules} == expected
    assert {s.id for s in safety.sources} == KNOWN_SOURCES
    names = {s.id: (s.name, s.publisher) for s in safety.sources}
    assert names["sheet"][0] == "Exercises to Help Your Back"
    assert names["nhs_back_pain"][0] == "Back pain" and "NHS" in names["nhs_back_pain"][1]
    assert names["nhs_cauda_equina"][0] == "Cauda equina syndrome" and "NHS" in names["nhs_cauda_equina"][1]
    assert all(e.source in {s.id for s in content.program.sources} for e in content.program.exercises)


@pytest.mark.parametrize(
    ("rule_id", "phrases"),
    [
        ("spasm_flare", ["during a spasm", "first one to three days after an injury or flare-up"]),
        ("exercise_pain", ["increased or continuing back pain", "stop the exercise"]),
        ("radiating", ["radiate away from your spine", "buttocks or legs", "during or after",
                       "physical therapist or doctor"]),
        ("neuro_change", ["increase in your symptoms", "numbness, tingling or a spread of the pain",
                          "physical therapist or doctor"]),
        ("heart", ["just had a heart attack", "any other heart problem", "receive guidance",
                   "beginning or re-starting"]),
        ("chest_pain", ["stop your physical activity", "contact your doctor or other medical professional",
                        "heart attack", "emergency number", "999"]),
        ("cauda_equina", ["emergency department", "999", "genitals", "buttocks", "inner thighs",
                          "bladder or bowels", "both legs", "serious accident", "stopped your exercise program"]),
        ("same_day", ["doctor today", "nhs 111", "gp", "high temperature", "weight loss without trying",
                      "lump or swelling", "worse at night", "coughing, sneezing", "between your shoulders",
                      "paused your program"]),
        ("routine", ["few weeks", "day-to-day activities", "getting worse", "worried", "struggling to cope",
                     "doctor or physical therapist"]),
    ],
)  # fmt: skip
def test_every_stop_and_consult_rule_says_what_the_source_says(
    rule_id: str, phrases: list[str], content: Content
) -> None:
    advice = _norm(content.safety.rule(rule_id).advice)
    for phrase in phrases:
        assert phrase in advice, (rule_id, phrase)


def test_safety_numbers_are_not_invented(content: Content) -> None:
    # 1 to 3 rest days (sheet); 999 / 911 / 112 emergency numbers; NHS 111; Samaritans 116 123 and the US
    # 988 line (crisis sources); 15 minutes (NHS chest pain: call 999 when it lasts more than 15 minutes)
    texts = [r.advice for r in content.safety.rules]
    texts += [q.text for q in [*content.safety.onboarding_screening, *content.safety.session_precheck]]
    texts += [content.safety.disclaimer, content.safety.emergency_number_note]
    numbers = set().union(*(_numbers(t) for t in texts))
    assert numbers <= {1, 3, 15, 111, 112, 116, 123, 911, 988, 999}, numbers


def test_screening_questions(content: Content) -> None:
    onboarding = {q.rule: _norm(q.text) for q in content.safety.onboarding_screening}
    assert "1 to 3 days" in onboarding["spasm_flare"] and "flare-up" in onboarding["spasm_flare"]
    assert "heart attack" in onboarding["heart"] and "heart problem" in onboarding["heart"]
    assert "cauda_equina" in onboarding
    precheck = {q.rule: _norm(q.text) for q in content.safety.session_precheck}
    assert set(precheck) == {"spasm_flare", "radiating", "chest_pain"}
    assert "1 to 3 days" in precheck["spasm_flare"]
    assert "buttocks or legs" in precheck["radiating"]
    assert "new or changing chest pain" in precheck["chest_pain"]


def test_disclaimer_and_emergency_number(content: Content) -> None:
    disclaimer = _norm(content.safety.disclaimer)
    for phrase in ["not a diagnosis", "not a replacement", "not intended to diagnose health problems",
                   "take the place of medical advice"]:  # fmt: skip
        assert phrase in disclaimer
    assert {999, 911, 112} <= _numbers(content.safety.emergency_number_note)


def test_key_phrases_appear_in_content() -> None:
    text = "\n".join(p.read_text(encoding="utf-8") for p in CONTENT_DIR.glob("*.yaml"))
    for phrase in ["20 to 40", "30 to 60", "buttocks", "chest pain", "numbness", "tingling", "heart",
                   "spasm", "10 repetitions"]:  # fmt: skip
        assert phrase in text, phrase


# --- loader errors name the file and the field ------------------------------------------------------


@pytest.fixture
def content_copy(tmp_path: Path) -> Path:
    for path in CONTENT_DIR.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def _edit(path: Path, change: Any) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def test_copy_loads(content_copy: Path) -> None:
    assert load_content(content_copy).program.exercise("pelvic_tilt").dosage.repetitions_goal == 10


def test_missing_file(content_copy: Path) -> None:
    (content_copy / "program.yaml").unlink()
    with pytest.raises(ContentError, match=r"program\.yaml: file not found"):
        load_content(content_copy)


def test_bad_yaml(content_copy: Path) -> None:
    (content_copy / "safety.yaml").write_text("rules: [unclosed\n  - x: {", encoding="utf-8")
    with pytest.raises(ContentError, match=r"safety\.yaml: not valid YAML"):
        load_content(content_copy)


def test_hold_range_backwards_names_file_and_field(content_copy: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["exercises"][2]["dosage"]["hold_seconds"] = {"low": 40, "high": 20}

    _edit(content_copy / "program.yaml", change)
    with pytest.raises(ContentError) as error:
        load_content(content_copy)
    assert "program.yaml" in str(error.value) and "exercises.2.dosage.hold_seconds" in str(error.value)


def test_misspelt_field_names_file_and_field(content_copy: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["rules"][0]["priorty"] = data["rules"][0].pop("priority")

    _edit(content_copy / "safety.yaml", change)
    with pytest.raises(ContentError) as error:
        load_content(content_copy)
    message = str(error.value)
    assert "safety.yaml" in message and "rules.0.priority" in message and "rules.0.priorty" in message


def test_rule_with_unknown_source(content_copy: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        data["rules"][1]["source"] = "a_blog"

    _edit(content_copy / "safety.yaml", change)
    with pytest.raises(ContentError, match=r"safety\.yaml: .*unknown source 'a_blog'"):
        load_content(content_copy)


def test_messages_must_be_a_mapping(content_copy: Path) -> None:
    (content_copy / "messages.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(ContentError, match=r"messages\.yaml"):
        load_content(content_copy)
