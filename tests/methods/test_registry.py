"""The method-name grammar: every documented and original name parses, and writes back."""

from __future__ import annotations

from pathlib import Path

import pytest

from signxai import describe_method, list_methods
from signxai.errors import MethodParameterError, UnknownMethodError
from signxai.methods.registry import format_number, parse, parse_number

ORIGINAL = Path(__file__).resolve().parents[3] / "shared" / "seed" / "original_method_names.txt"
ORIGINAL_NAMES = ORIGINAL.read_text().split() if ORIGINAL.exists() else []
PRESET = ("_VGG16ILSVRC", "_VGG16MITPL365", "_MNISTCNN")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0_5", 0.5),
        ("0_05", 0.05),
        ("0_25", 0.25),
        ("neg_0_5", -0.5),
        ("1", 1.0),
        ("0_001", 0.001),
        ("100", 100.0),
    ],
)
def test_numbers_join_digit_groups(text: str, value: float) -> None:
    assert parse_number(text) == value
    assert format_number(value) == text


@pytest.mark.skipif(not ORIGINAL_NAMES, reason="../shared/seed/original_method_names.txt absent")
def test_every_original_name_is_accepted_or_explains_the_preset() -> None:
    assert len(ORIGINAL_NAMES) > 100
    for name in ORIGINAL_NAMES:
        if name.endswith(PRESET):
            with pytest.raises(UnknownMethodError, match="preset"):
                parse(name)
        else:
            parse(name)


@pytest.mark.parametrize("name", list_methods())
def test_listed_names_parse_and_write_back(name: str) -> None:
    spec = parse(name)
    assert parse(spec.name).name == spec.name
    assert describe_method(name)["name"] == spec.name


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("saliency", "gradient"),
        ("input_t_gradient", "gradient_x_input"),
        ("gradcam", "grad_cam"),
        ("grad_cam_timeseries", "grad_cam"),
        ("gradient_x_sign_mu", "gradient_x_sign_mu_0"),
        ("integrated_gradients", "integrated_gradients_steps_50"),
        ("smoothgrad", "smoothgrad_noise_0_2_samples_50"),
        ("vargrad_samples_8", "vargrad_noise_0_2_samples_8"),
        ("lrp_epsilon_0_05", "lrp_epsilon_0_05"),
        ("lrpsign_epsilon_100_mu_neg_0_5", "lrpsign_epsilon_100_mu_neg_0_5"),
        ("lrpsign_epsilon_0_25_std_x_mu_0", "lrpsign_epsilon_0_25_std_x"),
        ("lrp_alpha_2_beta_1", "lrp_alpha_2_beta_1"),
    ],
)
def test_canonical_names(name: str, canonical: str) -> None:
    assert parse(name).name == canonical


def test_parameters_from_the_name() -> None:
    spec = parse("lrpsign_epsilon_0_25_std_x_mu_neg_0_5")
    assert spec.params["input_rule"] == "lrpsign"
    assert spec.params["rule"] == "epsilon"
    assert spec.params["epsilon"] == 0.25
    assert spec.params["std_x"] is True
    assert spec.params["mu"] == -0.5
    assert parse("smoothgrad_noise_0_1_samples_20").params["samples"] == 20
    assert parse("gradient_x_sign_mu_neg_0_5").mu == -0.5


def test_keywords_are_an_alternative_to_name_parameters() -> None:
    assert parse("lrp_epsilon", {"epsilon": 0.5}).name == "lrp_epsilon_0_5"
    assert parse("integrated_gradients", {"steps": 16}).name == "integrated_gradients_steps_16"
    assert parse("lrp_alpha_beta", {"alpha": 2, "beta": 1}).name == "lrp_alpha_2_beta_1"
    assert parse("gradient_x_sign_mu", {"mu": 0.5}).name == "gradient_x_sign_mu_0_5"
    # the same value in both places is no conflict
    assert parse("lrp_epsilon_0_5", {"epsilon": 0.5}).name == "lrp_epsilon_0_5"


@pytest.mark.parametrize(
    ("name", "keywords", "match"),
    [
        ("lrp_epsilon_0_5", {"epsilon": 0.1}, "give it once"),
        ("integrated_gradients_steps_8", {"steps": 9}, "give it once"),
        ("gradient_x_sign_mu_0_5", {"mu": 0.1}, "mu"),
        ("gradient", {"epsilon": 1}, "does not take"),
        ("smoothgrad", {"num_samples": 8}, r"num_samples: did you mean samples\?"),
        ("grad_cam", {"target_layr": "x"}, r"target_layr: did you mean target_layer\?"),
        ("integrated_gradients_steps_0", {}, ">= 1"),
        ("smoothgrad", {"noise_level": -1}, ">= 0"),
        ("lrp_alpha_2_beta_2", {}, "alpha - beta must be 1"),
        ("lrp_epsilon_0_5_mu_0_5", {}, "only applies to the lrpsign_"),
        ("lrp_epsilon", {}, "needs epsilon"),
        ("lrp_z", {"low": 0.0}, "zblrp_"),
        ("integrated_gradients", {"steps": "many"}, "expects int"),
        ("smoothgrad", {"samples": float("inf")}, "parameter 'samples' of 'smoothgrad' expects int, got inf"),
        # before, accepted: mu=nan made SIGN-mu's sign -1 everywhere, silently; True was 1.0
        ("lrpsign_epsilon_0_1", {"mu": float("nan")}, "parameter 'mu' .* expects a finite float, got nan"),
        ("smoothgrad", {"noise_level": float("inf")}, "expects a finite float, got inf"),
        ("lrp_epsilon_0_1", {"mu": True}, "expects a finite float, got True"),
        # before, ignored by the rules without alpha-beta layers
        ("lrp_epsilon_0_1", {"alpha": 2.0, "beta": 1.0}, "alpha/beta only apply to the alpha-beta rule"),
        ("lrp_sequential_composite_a", {"beta": 1.0}, "alpha/beta only apply to the alpha-beta rule"),
        ("deeplift", {"eps": 0.0}, "parameter 'eps' of 'deeplift' must be > 0.0"),  # before: NaN maps
        ("occlusion_window_8_stride_9", {}, "stride=9 is longer than window=8"),  # before: NaN maps
        # the _x_sign_mu suffix's keyword: before, NaN taken, text and None Python's errors
        ("gradient_x_sign_mu", {"mu": float("nan")}, "'mu' of 'gradient_x_sign_mu' expects a finite float"),
        ("gradient_x_sign_mu_0_5", {"mu": "abc"}, "expects a finite float, got 'abc'"),
        ("kernel_shap", {"seed": -1}, r"'seed' of 'kernel_shap' must be a whole number in \[0, 2\*\*64\)"),
    ],
)
def test_bad_parameters_raise_named_errors(name: str, keywords: dict, match: str) -> None:
    with pytest.raises(MethodParameterError, match=match):
        parse(name, keywords)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("gradiant", "closest names: gradient"),
        ("lrp_epsilon_0_5_5", "does not follow that form"),
        ("lrp_epsilon_abc", "does not follow that form"),
        ("lrp_z_x_input", "applies to gradient-type methods only"),
        ("grad_cam_x_sign", "applies to gradient-type methods only"),
        ("gradient_x_input_0_5", "only _x_sign_mu takes a number"),
        ("grad_cam_VGG16ILSVRC", "preset"),
        ("integrated_gradient", "closest names: integrated_gradients"),
        # a misspelt word with the user's own numbers: the mended name comes first
        ("lrp_epsilom_0_1", "closest names: lrp_epsilon_0_1, "),
        ("lrpsing_epsilon_0_01_std_x", "closest names: lrpsign_epsilon_0_01_std_x, "),
        ("lrp_alpah_2_beta_1", "closest names: lrp_alpha_2_beta_1, "),
        ("smoothgrad_x_sing_mu_0_3", "closest names: smoothgrad_x_sign_mu_0_3, "),
        ("LRPSIGN_Epsilom_0_1_mu_neg_0_5", "closest names: lrpsign_epsilon_0_1_mu_neg_0_5, "),
        # other spellings of numbers and words come back as names (before: no or far suggestions)
        ("lrp_epsilon_0.1", "closest names: lrp_epsilon_0_1, "),
        ("LRP-Epsilon-0.1", "closest names: lrp_epsilon_0_1, "),
        ("lrp_epsilon_1e-3", "closest names: lrp_epsilon_0_001, "),
        ("lrpsign_epsilon_0.1_mu_-0.5", "closest names: lrpsign_epsilon_0_1_mu_neg_0_5, "),
        ("IntegratedGradients", "closest names: integrated_gradients, "),
        # other libraries' names are suggested, never taken
        ("InputXGradient", "closest names: gradient_x_input, "),
        ("LayerGradCam", "closest names: grad_cam, "),
        ("NoiseTunnel", "closest names: smoothgrad, vargrad"),
        ("shap", "closest names: gradient_shap, kernel_shap, deeplift_shap"),
    ],
)
def test_unknown_names_raise_with_suggestions(name: str, match: str) -> None:
    with pytest.raises(UnknownMethodError, match=match):
        parse(name)


def test_unknown_method_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse(42)  # type: ignore[arg-type]


def test_list_methods_covers_every_family_prefix_and_suffix() -> None:
    names = list_methods()
    assert names == sorted(names)
    for expected in (
        "gradient",
        "gradient_x_input",
        "gradient_x_sign",
        "gradient_x_sign_mu_0_5",
        "integrated_gradients",
        "smoothgrad",
        "vargrad",
        "guided_backprop",
        "deconvnet_x_sign",
        "grad_cam",
    ):
        assert expected in names
    for prefix in ("lrp", "lrpsign", "lrpz", "w2lrp", "flatlrp", "zblrp"):
        for rule in (
            "z",
            "epsilon_0_25_std_x",
            "alpha_1_beta_0",
            "zplus",
            "sequential_composite_a",
            "sequential_composite_b",
        ):
            assert f"{prefix}_{rule}" in names


def test_describe_method_gives_family_parameters_and_definition() -> None:
    info = describe_method("gradient_x_sign_mu_neg_0_5")
    assert info["family"] == "gradient"
    assert info["post"] == "x_sign_mu"
    assert info["parameters"]["mu"] == -0.5
    assert "sign_mu" in info["definition"]
    info = describe_method("lrp_epsilon_0_1_std_x")
    assert info["kind"] == "lrp" and info["parameters"]["std_x"] is True


def test_parsing_a_name_twice_gives_independent_parameters() -> None:
    first = parse("lrp_epsilon_0_5")
    first.params["epsilon"] = 9.0  # type: ignore[index]
    second = parse("lrp_epsilon_0_5")
    assert second.params["epsilon"] == 0.5
    assert second.name == "lrp_epsilon_0_5"


def test_a_name_with_no_near_word_gets_no_mended_suggestion() -> None:
    with pytest.raises(UnknownMethodError) as error:
        parse("xyz_0_1")
    assert "closest names" not in str(error.value)
