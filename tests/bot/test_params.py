"""/imagine parameters: the text flags Telegram members type, the typed values Discord and the CLI pass,
and one set of checks for all three."""

from __future__ import annotations

import dataclasses
import math

import pytest

from bot import messages
from bot.core.params import FLAGS, MAX_SEED, QUOTE_LIMIT, ImagineParams, check_params, parse_imagine
from viper.cli import build_parser
from viper.cli.imagine import check_imagine_args, imagine_request
from viper.contracts import jobs
from viper.contracts.config import Settings
from viper.contracts.errors import InvalidArgument

STEPS = 100


def parse(text: str) -> ImagineParams:
    return parse_imagine(text, max_steps=STEPS)


def refused(text: str, max_steps: int = STEPS) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        parse_imagine(text, max_steps=max_steps)
    return caught.value


def test_the_example_parses_exactly():
    params = parse("a lighthouse at dusk --ar 16:9 --seed 7 --strength 1.5 --no text, watermark --steps 30")
    assert params == ImagineParams(
        prompt="a lighthouse at dusk", ar="16:9", seed=7, strength=1.5, no="text, watermark", steps=30, profiles=[]
    )


@pytest.mark.parametrize("flags, field, value", [
    ("--ar 9:16", "ar", "9:16"),
    ("--seed 0", "seed", 0),
    ("--seed 4294967295", "seed", MAX_SEED),
    ("--strength 0", "strength", 0.0),
    ("--strength 2", "strength", 2.0),
    ("--strength .5", "strength", 0.5),
    ("--no blur", "no", "blur"),
    ("--steps 1", "steps", 1),
    ("--steps 100", "steps", 100),
])
def test_every_flag_is_parsed_alone(flags, field, value):
    params = parse(f"a red fox {flags}")
    expected = dataclasses.replace(ImagineParams(prompt="a red fox"), **{field: value})
    assert params == expected
    assert type(getattr(params, field)) is type(value)


def test_flags_may_come_in_any_order_and_in_any_case():
    params = parse("a red fox --STEPS 12 --No fog --Ar 1:1")
    assert (params.prompt, params.steps, params.no, params.ar) == ("a red fox", 12, "fog", "1:1")


@pytest.mark.parametrize("dash", ["\u2014", "\u2013"])  # em dash, en dash: what phones make of `--`
def test_a_long_dash_is_a_flag(dash):
    params = parse(f"a red fox {dash}ar 16:9 {dash}no text {dash}seed 3")
    assert (params.prompt, params.ar, params.no, params.seed) == ("a red fox", "16:9", "text", 3)


def test_a_value_may_follow_an_equals_sign():
    assert parse("a red fox --ar=4:3 --no=text, logos").ar == "4:3"
    assert parse("a red fox --ar=4:3 --no=text, logos").no == "text, logos"


def test_no_takes_commas_spaces_and_lines_up_to_the_next_flag():
    params = parse("a harbour --no text,   watermark, signature,\nblurry faces --seed 9")
    assert params.no == "text, watermark, signature, blurry faces"
    assert params.seed == 9
    assert parse("a harbour\n--no people, boats").prompt == "a harbour"


@pytest.mark.parametrize("text", [
    "a state--of--the--art robot",
    "a cat -- sleeping on a mat",
    "a cat - sleeping - on a mat",
    "1990 – 2000, an era — remembered",
    "minus --7 degrees",
    "double  spaces\nand a new line",
    "an arrow --> pointing right",
])
def test_text_without_flags_is_all_prompt_and_untouched(text):
    assert parse(text) == ImagineParams(prompt=text)


def test_the_prompt_is_only_stripped():
    assert parse("  a red fox \n --ar 1:1").prompt == "a red fox"


def test_ar_accepts_exactly_the_aspect_ratios_of_the_contract():
    for ratio in jobs.ASPECT_RATIOS:
        assert parse(f"a fox --ar {ratio}").ar == ratio
        assert check_params(ImagineParams("a fox", ar=ratio), max_steps=STEPS).ar == ratio
    for wrong in ("16x9", "16/9", "16X9", "16:10", "1:2", "9:21", "16∶9", "16:9:1", "wide"):
        error = refused(f"a fox --ar {wrong}")
        assert error.argument == "ar" and wrong in error.message
    message = refused("a fox --ar 16x9").message
    assert all(ratio in message for ratio in jobs.ASPECT_RATIOS)


@pytest.mark.parametrize("text, argument, says", [
    # an unknown flag: named, with the flags there are
    ("a fox --hdr", "hdr", ["--hdr", "--ar", "--seed", "--strength", "--no", "--steps"]),
    ("a fox —size 3", "size", ["--size", "--ar", "--steps"]),
    ("a fox --seeds 3", "seeds", ["--seeds", "did you mean --seed?"]),
    ("a fox --p abc", "p", ["--p", "share codes", "vp-7KQ2MX9A"]),
    ("a fox --p vp-7KQ2MX9A vp-7KQ2MX9A", "p", ["--p", "share codes"]),
    ("a fox --pp me", "pp", ["--pp", "--ar", "--p"]),
    # a missing value
    ("a fox --ar", "ar", ["--ar needs a value", "16:9"]),
    ("a fox --seed --ar 1:1", "seed", ["--seed needs a value", "0 to 4294967295"]),
    ("a fox --no", "no", ["--no needs a value", "keep out of the image"]),
    ("a fox --steps   ", "steps", ["--steps needs a value", "1 to 100"]),
    ("a fox --strength", "strength", ["--strength needs a value", "0 to 2"]),
    # the wrong kind
    ("a fox --seed seven", "seed", ["--seed takes a whole number from 0 to 4294967295", "“seven”"]),
    ("a fox --seed 1.5", "seed", ["--seed takes", "“1.5”"]),
    ("a fox --steps 1e2", "steps", ["--steps takes a whole number of steps from 1 to 100", "“1e2”"]),
    ("a fox --strength strong", "strength", ["--strength takes a number from 0 to 2", "“strong”"]),
    # out of range
    ("a fox --seed -1", "seed", ["--seed takes a whole number from 0 to 4294967295", "“-1”"]),
    ("a fox --seed 4294967296", "seed", ["--seed takes", "“4294967296”"]),
    ("a fox --steps 0", "steps", ["--steps takes", "1 to 100", "“0”"]),
    ("a fox --steps 101", "steps", ["--steps takes", "“101”"]),
    ("a fox --strength 2.01", "strength", ["--strength takes a number from 0 to 2", "“2.01”"]),
    ("a fox --strength -0.1", "strength", ["--strength takes", "“-0.1”"]),
    # not finite
    ("a fox --strength nan", "strength", ["--strength takes a number from 0 to 2", "“nan”"]),
    ("a fox --strength inf", "strength", ["--strength takes", "“inf”"]),
    ("a fox --strength 1e999", "strength", ["--strength takes", "“1e999”"]),
    # more than one word, where one is taken: the prompt was put after the flags
    ("--seed 7 a fox", "seed", ["--seed takes", "“7 a fox”", "prompt first"]),
    ("a fox --ar 16:9 in the snow", "ar", ["--ar takes", "prompt first"]),
    # twice, with either dash
    ("a fox --ar 1:1 --ar 4:3", "ar", ["--ar is given twice", "16:9"]),
    ("a fox --seed 1 —seed 2", "seed", ["--seed is given twice", "0 to 4294967295"]),
    # nothing left to draw
    ("--ar 16:9", "prompt", ["the prompt is empty", "--ar 16:9"]),
    ("  \u200b --no text", "prompt", ["the prompt is empty"]),
    ("", "prompt", ["the prompt is empty"]),
])
def test_every_error_names_the_flag_and_what_it_accepts(text, argument, says):
    error = refused(text)
    assert error.argument == argument
    for part in says:
        assert part in error.message, (part, error.message)
    shown = messages.friendly(error)
    assert shown == f"Sorry, {error.message}." and not error.message.endswith(".")


def test_steps_are_bounded_by_the_engine_bound_given():
    assert parse_imagine("a fox --steps 60", max_steps=60).steps == 60
    error = refused("a fox --steps 61", max_steps=60)
    assert error.argument == "steps" and "1 to 60" in error.message


@pytest.mark.parametrize("text", [
    "a fox --seed " + "9" * 10_000,
    "a fox --ar " + "1" * 10_000,
    "a fox --" + "x" * 10_000,
    "a fox --strength " + "x" * 10_000,
    "a fox --seed 1 --seed " + "2" * 10_000,
    "a fox --seed " + "7 " * 5_000,
])
def test_huge_input_is_never_echoed(text):
    error = refused(text)
    assert len(error.message) < 300
    assert len(error.argument or "") <= 20
    quoted = error.message.partition("“")[2].partition("”")[0]
    assert len(quoted) <= QUOTE_LIMIT


# -- typed values (Discord's options, the CLI): the same checks ------------------------------------


def test_check_params_accepts_typed_values_and_tidies_them():
    params = check_params(ImagineParams("a fox", ar="21:9", seed=MAX_SEED, strength=1, no=" text,\n logos ", steps=5),
                          max_steps=STEPS)
    assert params == ImagineParams("a fox", ar="21:9", seed=MAX_SEED, strength=1.0, no="text, logos", steps=5)
    assert type(params.strength) is float
    assert check_params(ImagineParams("a fox"), max_steps=STEPS) == ImagineParams("a fox")


@pytest.mark.parametrize("change, argument", [
    ({"ar": "16x9"}, "ar"),
    ({"ar": ""}, "ar"),
    ({"seed": -1}, "seed"),
    ({"seed": MAX_SEED + 1}, "seed"),
    ({"seed": True}, "seed"),
    ({"seed": 1.0}, "seed"),
    ({"strength": math.nan}, "strength"),
    ({"strength": math.inf}, "strength"),
    ({"strength": 2.5}, "strength"),
    ({"strength": -1e-9}, "strength"),
    ({"steps": 0}, "steps"),
    ({"steps": STEPS + 1}, "steps"),
    ({"profiles": ["vp-123"]}, "p"),
    ({"profiles": ["me", "me"]}, "p"),
    ({"prompt": " \n "}, "prompt"),
])
def test_check_params_refuses_what_the_flags_refuse(change, argument):
    with pytest.raises(InvalidArgument) as caught:
        check_params(dataclasses.replace(ImagineParams("a fox"), **change), max_steps=STEPS)
    assert caught.value.argument == argument
    if argument != "prompt":
        assert caught.value.message.startswith(f"--{argument} takes ")


def test_every_flag_fills_the_field_of_its_name():
    fields = {f.name for f in dataclasses.fields(ImagineParams)}
    targets = {flag.target for flag in FLAGS.values()}
    assert targets <= fields and fields - targets == {"prompt"}
    assert FLAGS["p"].target == "profiles"


# -- `viper imagine`: its flags reach the request ---------------------------------------------------


def cli_request(*argv: str) -> jobs.GenerateRequest:
    args = build_parser().parse_args(["imagine", *argv])
    params = check_imagine_args(args, Settings())
    return imagine_request(args, params, args.prompt, ["teal"], ["harsh yellow"])


def test_cli_flags_end_up_in_the_generate_request():
    request = cli_request("a fox", "--ar", "16:9", "--strength", "1.5", "--no", "text,\n watermark", "--seed", "5",
                          "--steps", "9", "--no-shuffle")
    assert (request.aspect, request.strength, request.negative_prompt) == ("16:9", 1.5, "text, watermark")
    assert (request.seed, request.steps, request.shuffle) == (5, 9, False)
    assert (request.liked, request.disliked) == (["teal"], ["harsh yellow"])
    # --strength multiplies the configured strengths; it no longer sets them outright.
    assert request.liked_strength is None and request.disliked_strength is None
    assert jobs.from_dict(jobs.GenerateRequest, jobs.to_dict(request)) == request


def test_cli_defaults_leave_the_new_fields_to_the_worker():
    request = cli_request("a fox")
    assert (request.aspect, request.strength, request.negative_prompt) == (None, None, "")


def test_cli_strength_zero_turns_personalisation_off():
    assert cli_request("a fox", "--strength", "0").strength == 0.0


def test_cli_no_and_negative_are_joined():
    assert cli_request("a fox", "--negative", "blur", "--no", "text").negative_prompt == "blur, text"
    assert cli_request("a fox", "--negative", "blur").negative_prompt == "blur"


def test_cli_width_and_height_win_over_ar():
    request = cli_request("a fox", "--ar", "16:9", "--width", "512", "--height", "512")
    assert (request.width, request.height, request.aspect) == (512, 512, None)
    assert cli_request("a fox", "--width", "512").width == 512


@pytest.mark.parametrize("side", ["--width", "--height"])
def test_cli_refuses_ar_with_one_side_only(side):
    args = build_parser().parse_args(["imagine", "a fox", "--ar", "16:9", side, "512"])
    with pytest.raises(InvalidArgument) as caught:
        check_imagine_args(args, Settings())
    assert caught.value.argument == "ar" and "both --width and --height" in caught.value.message


def test_cli_keeps_the_engines_wider_seed_range():
    assert cli_request("a fox", "--seed", str(2**64 - 1)).seed == 2**64 - 1
    assert Settings().engine.max_steps == STEPS


@pytest.mark.parametrize("argv, argument", [
    (["--strength", "nan"], "strength"),
    (["--strength", "2.5"], "strength"),
    (["--strength", "-1"], "strength"),
    (["   "], "prompt"),
])
def test_cli_refuses_with_the_shared_checks(argv, argument):
    prompt = argv[0] if argument == "prompt" else "a fox"
    args = build_parser().parse_args(["imagine", prompt, *(argv if argument != "prompt" else [])])
    with pytest.raises(InvalidArgument) as caught:
        check_imagine_args(args, Settings())
    assert caught.value.argument == argument


def test_cli_ar_choices_are_the_aspect_ratios(capsys):
    parser = build_parser()
    for ratio in jobs.ASPECT_RATIOS:
        assert parser.parse_args(["imagine", "a fox", "--ar", ratio]).ar == ratio
    with pytest.raises(SystemExit):
        parser.parse_args(["imagine", "a fox", "--ar", "16x9"])
    assert "invalid choice" in capsys.readouterr().err
