"""How a private model's ``privacy_`` reads in ``tvae inspect`` and after ``tvae fit``."""

from __future__ import annotations


def privacy_summary(privacy: dict) -> str:
    """One line: the guarantee."""
    return (
        f"differentially private: epsilon {privacy['epsilon']:.3g} spent of "
        f"{privacy['epsilon_requested']:g}, delta {privacy['delta']:.3g} "
        f"({privacy['delta_source']})"
    )


def privacy_lines(privacy: dict) -> list[str]:
    """The text block of ``tvae inspect`` for a private model."""
    split = privacy["budget_split"]
    statistics = split["statistics"]
    public = ", ".join(privacy.get("public", [])) or "none"
    return [
        f"Privacy:     {privacy_summary(privacy)}; {privacy['accountant']['name'].upper()} "
        "accountant over the whole pipeline",
        f"  DP-SGD:    noise multiplier {privacy['noise_multiplier']:.4g}, clipping norm "
        f"{privacy['clipping_norm']:g}, sampling rate {privacy['sample_rate']:.4g}, "
        f"{privacy['steps']} steps (epsilon {split['dp_sgd']['epsilon_alone']:.3g} alone)",
        f"  Statistics: {statistics['mechanisms']} Gaussian histograms, noise multiplier "
        f"{statistics['noise_multiplier']:.4g}, {statistics['share_of_rho']:.0%} of rho "
        f"(epsilon {statistics['epsilon_alone']:.3g} alone); category names: delta "
        f"{split['category_names_delta']:.3g}",
        *_latent_line(split.get("latent")),  # files written before it had no line of their own
        *_detection_line(privacy.get("detection"), split.get("detection")),
        f"  Public:    {public}; prior: {privacy['prior']}",
        # files written before the decoder's units were narrowed on small tables trained all
        f"  Decoder:   {privacy.get('decoder_units', 'every hidden unit trained')}; "
        f"sharpening: {privacy.get('decoder_sharpening', 'none')}",
    ]


def _latent_line(latent: dict | None) -> list[str]:
    """The private latent's two sums, where the file records them apart from the statistics."""
    if not latent or not latent.get("mechanisms"):
        return []
    return [
        f"  Latent:    {latent['mechanisms']} Gaussian sums, noise multiplier "
        f"{latent['noise_multiplier']:.4g}, weight {latent['weight']:.3g} "
        f"({latent['share_of_rho']:.0%} of rho; epsilon {latent['epsilon_alone']:.3g} alone)"
    ]


def _detection_line(detection: dict | None, spent: dict | None) -> list[str]:
    """The label determinations tested under epsilon (files before them had none)."""
    if not detection or not detection.get("slots") or not spent:
        return []
    kept = ", ".join(detection["kept"]) or "none"
    return [
        f"  Detection: {detection['slots']} statistics' worth of rho from DP-SGD's part "
        f"({spent['share_of_rho']:.0%}; epsilon {spent['epsilon_alone']:.3g} alone); "
        f"kept: {kept}"
    ]
