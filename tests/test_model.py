import torch

from tvae.model import SIGMA_MAX, SIGMA_MIN, Decoder, Encoder, standard_normal


def test_encoder_and_decoder_shapes():
    encoder = Encoder(data_dim=17, compress_dims=(32, 16), embedding_dim=8)
    decoder = Decoder(embedding_dim=8, decompress_dims=(16, 32), data_dim=17)
    mu, logvar = encoder(torch.randn(5, 17))
    assert mu.shape == logvar.shape == (5, 8)
    raw, sigma = decoder(mu)
    assert raw.shape == (5, 17)
    assert sigma.shape == (17,)
    assert torch.allclose(sigma, torch.full((17,), 0.1))


def test_reference_architecture_layers():
    encoder = Encoder(10, (128, 128), 128)
    linear = [m for m in encoder.body if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(10, 128), (128, 128)]
    assert encoder.fc_mu.out_features == encoder.fc_logvar.out_features == 128
    decoder = Decoder(128, (128, 128), 10)
    linear = [m for m in decoder.body if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(128, 128), (128, 128), (128, 10)]


def test_clamp_sigma_keeps_it_in_range():
    decoder = Decoder(4, (8,), 3)
    with torch.no_grad():
        decoder.sigma.copy_(torch.tensor([-1.0, 0.5, 9.0]))
    decoder.clamp_sigma()
    assert torch.allclose(decoder.sigma, torch.tensor([SIGMA_MIN, 0.5, SIGMA_MAX]))


def test_standard_normal_uses_only_the_given_generator():
    mu = torch.zeros(3, 4)
    before = torch.random.get_rng_state()
    a = standard_normal(mu, torch.Generator().manual_seed(1))
    b = standard_normal(mu, torch.Generator().manual_seed(1))
    assert a.shape == mu.shape and a.dtype == mu.dtype
    assert torch.equal(a, b)
    assert torch.equal(before, torch.random.get_rng_state())
