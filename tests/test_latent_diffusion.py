"""ModelLatentDiffusion against diffusers' StableDiffusionPipeline, offline, on tiny random pipelines saved to disk."""
import importlib.util, json, os, subprocess, sys
import pytest, torch
from smalldiffusion import ScheduleLDM, samples
from smalldiffusion.latent_diffusion import (ModelLatentDiffusion, sigma_to_timestep, to_diffusers_latents,
                                             from_diffusers_latents, img2img_sigmas)
from smalldiffusion.tiny_pipeline import save_tiny_sd_pipeline
from diffusers import StableDiffusionPipeline, StableDiffusionImg2ImgPipeline, DDIMScheduler
from diffusers.utils import logging as diffusers_logging

diffusers_logging.disable_progress_bar()
PROMPTS = ['an astronaut riding a horse', 'a photo of the moon']
NEGATIVE = ['blurry', 'a horse']
PRED_TYPES = ['epsilon', 'v_prediction', 'sample']

# Tolerances. Our runs and diffusers' do the same float32 arithmetic in another order (diffusers stacks the
# unconditional half of the guided batch first), so they differ by rounding; guidance w amplifies it (2w - 1 = 14 at
# w = 7.5) and the steps carry it along. Measured: up to 1.3e-6 of the largest latent (x86; 10-50 steps, other sizes,
# img2img). A timestep off by one (or by a half) at every step moves the result by 5e-4 to 6e-3 of it, 0.5's
# alpha-search timesteps by 1e-3 to 2e-3 at 50 steps. SAMPLED sits between the two.
SAMPLED = 5e-5
# One forward of the UNet at another batch size: float32 kernels may block their sums differently, ~1e-5 of the
# output's size; guidance multiplies an error in eps_c or eps_u by up to |w| + |w - 1| = 2w - 1.
def batch_tol(eps_scale, w=7.5): return (2 * w - 1) * 1e-5 * eps_scale

@pytest.fixture(scope='module', autouse=True)
def one_thread():
    "The tiny models gain nothing from threads, and 2 threads on a busy 2-CPU machine run ~30x slower."
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    "prediction type -> (folder, pipeline loaded from it, wrapper loaded from it)."
    root = tmp_path_factory.mktemp('tiny-sd')
    out = {}
    for pred in PRED_TYPES:
        path = save_tiny_sd_pipeline(root / pred, prediction_type=pred, seed=1)
        pipe = StableDiffusionPipeline.from_pretrained(path)
        pipe.set_progress_bar_config(disable=True)
        out[pred] = path, pipe, ModelLatentDiffusion(path)
    return out

def run_both(pipe, model, n, guidance=7.5, seed=0, shape=None, **size):
    "Final latents of the pipeline and of `samples` (gam=1) from the same initial latents, in diffusers' scale."
    model.set_text_condition(PROMPTS, NEGATIVE, text_guidance_scale=guidance)
    sig = ScheduleLDM(1000).sample_sigmas(n)
    zT = torch.randn(len(PROMPTS), *(shape or model.input_dims), generator=torch.Generator().manual_seed(seed))  # x_T
    ref = pipe(PROMPTS, negative_prompt=NEGATIVE, latents=zT, num_inference_steps=n, guidance_scale=guidance,
               output_type='latent', **size).images
    *_, x0 = samples(model, sig, gam=1, xt=from_diffusers_latents(zT, sig[0]), batchsize=len(PROMPTS))
    return to_diffusers_latents(x0, sig[-1]), ref, x0, zT

@pytest.mark.parametrize('pred', ['epsilon', 'v_prediction'])
@pytest.mark.parametrize('n', [10, 20, 25, 50])
def test_samples_equal_pipeline(tiny, pred, n):
    path, pipe, model = tiny[pred]
    assert pipe.scheduler.config.timestep_spacing == 'trailing' and isinstance(pipe.scheduler, DDIMScheduler)
    assert model.prediction_type == pred
    ours, ref, *_ = run_both(pipe, model, n)
    torch.testing.assert_close(ours, ref, rtol=0, atol=SAMPLED * ref.abs().max().item())

def test_x0_prediction_equals_pipeline(tiny):
    path, pipe, model = tiny['sample']
    ours, ref, *_ = run_both(pipe, model, 10)
    torch.testing.assert_close(ours, ref, rtol=0, atol=SAMPLED * ref.abs().max().item())

@pytest.mark.parametrize('guidance', [1.0, 3.0])
def test_guidance_scales_equal_pipeline(tiny, guidance):
    "w = 1 means no guidance in both (the pipeline then skips the negative prompt)."
    path, pipe, model = tiny['epsilon']
    ours, ref, *_ = run_both(pipe, model, 10, guidance=guidance)
    torch.testing.assert_close(ours, ref, rtol=0, atol=SAMPLED * ref.abs().max().item())

def test_explicit_cond_with_cfg_scale_equals_text_condition(tiny):
    "cfg_scale s (smalldiffusion, 0 = off) is guidance w = s + 1 (diffusers, 1 = off)."
    path, pipe, model = tiny['epsilon']
    _, _, x0, zT = run_both(pipe, model, 10, guidance=7.5)
    sig = ScheduleLDM(1000).sample_sigmas(10)
    *_, x0_cond = samples(model, sig, gam=1, xt=from_diffusers_latents(zT, sig[0]), batchsize=len(PROMPTS),
                          cond=model.encode_text(PROMPTS), cfg_scale=6.5)
    # the same UNet batches, guided in the same order: only the rounding of guide's two forms differs
    torch.testing.assert_close(x0_cond, x0, rtol=0, atol=1e-6 * x0.abs().max().item())

def test_decode_latents_equals_pipeline(tiny):
    path, pipe, model = tiny['epsilon']
    model.set_text_condition(PROMPTS, NEGATIVE)
    zT = torch.randn(2, *model.input_dims, generator=torch.Generator().manual_seed(3))
    img = pipe(PROMPTS, negative_prompt=NEGATIVE, latents=zT, num_inference_steps=10, output_type='pt').images  # [0, 1]
    latents = pipe(PROMPTS, negative_prompt=NEGATIVE, latents=zT, num_inference_steps=10, output_type='latent').images
    decoded = model.decode_latents(latents)
    assert decoded.shape == img.shape == (2, 3, 16, 16) and decoded.min() >= -1 and decoded.max() <= 1
    # same VAE, same latents: (x + 1) / 2 rounding
    torch.testing.assert_close((decoded + 1) / 2, img, rtol=0, atol=1e-6)
    with torch.no_grad():
        raw = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
    torch.testing.assert_close(decoded, raw.clamp(-1, 1), rtol=0, atol=1e-6)  # the same call: rounding at most

def test_vae_scaling_factor_read_from_config(tmp_path):
    path = save_tiny_sd_pipeline(tmp_path / 'sd')
    cfg_file = os.path.join(path, 'vae', 'config.json')
    cfg = json.load(open(cfg_file)); cfg['scaling_factor'] = 0.5
    json.dump(cfg, open(cfg_file, 'w'))
    model = ModelLatentDiffusion(path)
    z = torch.randn(1, *model.input_dims)
    with torch.no_grad():
        raw = model.vae.decode(z / 0.5).sample.clamp(-1, 1)
    torch.testing.assert_close(model.decode_latents(z), raw)   # the same call: float32 defaults

@pytest.mark.parametrize('pred', ['epsilon', 'v_prediction'])
def test_sigma_to_timestep_exact_on_training_grid(tiny, pred):
    path, pipe, model = tiny[pred]
    grid = torch.arange(1000, dtype=torch.float64)
    from_pipe = (1 / pipe.scheduler.alphas_cumprod.double() - 1).sqrt()
    for sigmas in (ScheduleLDM(1000).sigmas, from_pipe, from_pipe.float(), model.schedule.sigmas):
        assert torch.equal(sigma_to_timestep(sigmas, model.train_sigmas), grid)
    mid = (from_pipe[:-1] * from_pipe[1:]).sqrt()              # geometric midpoints: fractional timesteps
    torch.testing.assert_close(sigma_to_timestep(mid, model.train_sigmas), grid[:-1] + 0.5)

def test_unet_receives_the_pipeline_timesteps(tiny):
    "The timesteps the UNet sees during `samples` are the pipeline's, exactly."
    path, pipe, model = tiny['epsilon']
    seen = {'ours': [], 'pipe': []}
    def spy(key):
        return lambda module, args, kwargs: seen[key].append(torch.as_tensor(args[1]).flatten()[0].item())
    model.set_text_condition(PROMPTS[0])
    h = model.unet.register_forward_pre_hook(spy('ours'), with_kwargs=True)
    list(samples(model, ScheduleLDM(1000).sample_sigmas(20), gam=1))
    h.remove()
    h = pipe.unet.register_forward_pre_hook(spy('pipe'), with_kwargs=True)
    pipe(PROMPTS[0], num_inference_steps=20, output_type='latent')
    h.remove()
    assert seen['ours'] == seen['pipe'] == [float(t) for t in pipe.scheduler.timesteps]

def test_per_example_sigma_and_prompt_broadcast(tiny):
    path, pipe, model = tiny['v_prediction']
    sig = ScheduleLDM(1000).sample_sigmas(10)
    x = torch.randn(3, *model.input_dims)
    model.set_text_condition('a horse')                          # one prompt, three samples
    both = model(x, sig[[2, 5, 7]])
    c, u = model.text_condition.expand(3, -1, -1), model.negative_condition.expand(3, -1, -1)
    with torch.no_grad():                                        # the size of the unguided predictions
        unguided = model.predict_eps_text(torch.cat([x, x]), torch.cat([sig[[2, 5, 7]]] * 2), torch.cat([c, u]))
        tol = batch_tol(unguided.abs().max().item())
    for i, j in enumerate([2, 5, 7]):
        torch.testing.assert_close(both[i:i+1], model(x[i:i+1], sig[j]), rtol=0, atol=tol)
    torch.testing.assert_close(model(x, sig[[2, 5, 7]].view(3, 1, 1, 1)), both, rtol=0, atol=tol)

def test_errors(tiny, tmp_path):
    path, pipe, _ = tiny['epsilon']
    model = ModelLatentDiffusion(path)
    x, sig = torch.randn(2, *model.input_dims), ScheduleLDM(1000).sample_sigmas(10)[3]
    with pytest.raises(ValueError, match='call set_text_condition'):              # no text condition
        model(x, sig)
    with pytest.raises(ValueError, match='needs cond'):                           # CFG with nothing to guide
        model.predict_eps_cfg(x, sig, None, 3.)
    model.set_text_condition(PROMPTS)
    with pytest.raises(ValueError, match='batch 3'):                              # cond batch mismatch
        model(x, sig, cond=torch.randn(3, 32, 16))
    with pytest.raises(ValueError, match='batch 2 but x has batch 3'):            # 2 prompts, 3 samples
        model(torch.randn(3, *model.input_dims), sig)
    with pytest.raises(ValueError, match='one value per sample'):
        model(x, torch.ones(3))
    with pytest.raises(ValueError, match='training range'):
        model(x, torch.tensor(100.))
    with pytest.raises(ValueError, match='list of 2 strings'):
        model.set_text_condition(PROMPTS, negative_prompt=['a', 'b', 'c'])
    with pytest.raises(TypeError, match='string or a non-empty list'):
        model.set_text_condition(None)
    with pytest.raises(ValueError, match="got 'flow'"):
        ModelLatentDiffusion(path, prediction_type='flow')
    bad = save_tiny_sd_pipeline(tmp_path / 'bad')                                 # unknown type in the config
    cfg_file = os.path.join(bad, 'scheduler', 'scheduler_config.json')
    cfg = json.load(open(cfg_file)); cfg['prediction_type'] = 'velocity'
    json.dump(cfg, open(cfg_file, 'w'))
    with pytest.raises(ValueError, match="prediction_type must be one of .* got 'velocity'"):
        ModelLatentDiffusion(bad)
    with pytest.raises(ValueError, match='new or empty folder'):
        save_tiny_sd_pipeline(bad)

def test_missing_diffusers_message(monkeypatch):
    monkeypatch.setitem(sys.modules, 'diffusers', None)
    with pytest.raises(ImportError, match='pip install diffusers transformers'):
        ModelLatentDiffusion('any/model')

def test_import_smalldiffusion_does_not_import_diffusers():
    "ModelLatentDiffusion is exported at top level, lazily; diffusers and transformers load when a model is built."
    code = ('import sys, smalldiffusion\n'
            'assert "diffusers" not in sys.modules and "transformers" not in sys.modules\n'
            'from smalldiffusion import ModelLatentDiffusion\n'
            'from smalldiffusion.latent_diffusion import ModelLatentDiffusion as direct\n'
            'assert ModelLatentDiffusion is direct')
    subprocess.run([sys.executable, '-c', code], check=True, cwd=os.path.dirname(os.path.dirname(__file__)))

def test_example_tiny(tmp_path):
    spec = importlib.util.spec_from_file_location(
        'stablediffusion_example', os.path.join(os.path.dirname(__file__), '..', 'examples', 'stablediffusion.py'))
    example = importlib.util.module_from_spec(spec); spec.loader.exec_module(example)
    out = tmp_path / 'img' / 'tiny.png'
    example.main(['--tiny', '--steps', '4', '--gam', '2', '--batch', '2', '--seed', '1', '--out', str(out)])
    from PIL import Image
    assert Image.open(out).size == (2 * 16 + 3 * 2, 16 + 2 * 2)   # save_image's grid: 2 px padding
    with pytest.raises(SystemExit):
        example.main(['--tiny', '--mu', '1'])

def test_sd1_style_pndm_scheduler_config(tiny, tmp_path):
    "SD 1.x checkpoints ship a PNDMScheduler config without prediction_type: its training grid is read all the same."
    from diffusers import PNDMScheduler
    path, pipe, model = tiny['epsilon']
    sd1 = save_tiny_sd_pipeline(tmp_path / 'sd1', seed=1)
    cfg_file = os.path.join(sd1, 'scheduler', 'scheduler_config.json')
    PNDMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule='scaled_linear', skip_prk_steps=True,
                  set_alpha_to_one=False, steps_offset=1).save_config(os.path.dirname(cfg_file))
    cfg = json.load(open(cfg_file)); cfg.pop('prediction_type')
    json.dump(cfg, open(cfg_file, 'w'))
    sd1_model = ModelLatentDiffusion(sd1)
    assert cfg['_class_name'] == 'PNDMScheduler' and sd1_model.prediction_type == 'epsilon'
    assert torch.equal(sd1_model.train_sigmas, model.train_sigmas)
    x, sig = torch.randn(2, *model.input_dims), ScheduleLDM(1000).sample_sigmas(10)[4]
    model.set_text_condition(PROMPTS); sd1_model.set_text_condition(PROMPTS)
    torch.testing.assert_close(sd1_model(x, sig), model(x, sig))   # same weights, same batches: float32 defaults


@pytest.mark.parametrize('shape', [(12, 8), (4, 16), (7, 9)])
def test_other_latent_sizes_equal_pipeline(tiny, shape):
    """Latents of other sizes: the pipeline's height/width (pixels, multiples of 8), or latents its UNet's 2x
    down-sampling does not divide."""
    path, pipe, model = tiny['epsilon']
    h, w = shape
    f = model.vae_scale_factor
    size = dict(height=h * f, width=w * f) if h * f % 8 == 0 and w * f % 8 == 0 else {}   # else: latents alone
    ours, ref, x0, zT = run_both(pipe, model, 10, shape=(4, h, w), **size)
    assert ours.shape == ref.shape == (2, 4, h, w)
    torch.testing.assert_close(ours, ref, rtol=0, atol=SAMPLED * ref.abs().max().item())
    img = pipe(PROMPTS, negative_prompt=NEGATIVE, latents=zT, num_inference_steps=10, output_type='pt', **size).images
    assert model.decode_latents(x0).shape == img.shape == (2, 3, f * h, f * w)

def test_other_size_with_noise_injection(tiny):
    "mu > 0 draws fresh noise every step: it must have xt's size, not input_dims'."
    path, pipe, model = tiny['epsilon']
    model.set_text_condition(PROMPTS)
    sig = ScheduleLDM(1000).sample_sigmas(5)
    xt = sig[0] * torch.randn(2, 4, 6, 10)
    torch.manual_seed(0); a = list(samples(model, sig, mu=0.5, xt=xt))
    torch.manual_seed(0); b = list(samples(model, sig, mu=0.5, xt=xt))
    torch.manual_seed(1); c = list(samples(model, sig, mu=0.5, xt=xt))
    assert a[-1].shape == (2, 4, 6, 10) and torch.isfinite(a[-1]).all()
    assert torch.equal(a[-1], b[-1]) and not torch.equal(a[-1], c[-1])     # seeded, and noise was injected

@pytest.mark.parametrize('pred', ['epsilon', 'v_prediction'])
@pytest.mark.parametrize('strength', [0.3, 0.75, 1.0])
def test_img2img_equals_pipeline(tiny, pred, strength):
    "encode_images + img2img_sigmas + samples from x0 + sigma_k noise is StableDiffusionImg2ImgPipeline."
    path, pipe, model = tiny[pred]
    i2i = StableDiffusionImg2ImgPipeline(**pipe.components, requires_safety_checker=False)
    i2i.set_progress_bar_config(disable=True)
    image = torch.rand(2, 3, 24, 16, generator=torch.Generator().manual_seed(5))    # [0, 1], as diffusers takes tensors
    n = 20
    ref = i2i(PROMPTS, negative_prompt=NEGATIVE, image=image, strength=strength, num_inference_steps=n,
              guidance_scale=7.5, generator=torch.Generator().manual_seed(7), output_type='latent').images
    model.set_text_condition(PROMPTS, NEGATIVE, text_guidance_scale=7.5)
    g = torch.Generator().manual_seed(7)                  # the pipeline's order: the posterior draw, then the noise
    z0 = model.encode_images(2 * image - 1, generator=g)
    sig = img2img_sigmas(ScheduleLDM(1000).sample_sigmas(n), strength)
    assert len(sig) == int(n * strength) + 1
    *_, x0 = samples(model, sig, xt=z0 + sig[0] * torch.randn(z0.shape, generator=g))
    ours = to_diffusers_latents(x0, sig[-1])
    assert ours.shape == ref.shape == (2, 4, 12, 8)
    torch.testing.assert_close(ours, ref, rtol=0, atol=SAMPLED * ref.abs().max().item())

@pytest.mark.parametrize('n', [10, 25, 50])
def test_img2img_sigmas_start_where_diffusers_does(tiny, n):
    "Every strength on a 0.01 grid: the same number of steps as diffusers' get_timesteps, from its first timestep."
    path, pipe, model = tiny['epsilon']
    i2i = StableDiffusionImg2ImgPipeline(**pipe.components, requires_safety_checker=False)
    i2i.scheduler.set_timesteps(n)
    full = ScheduleLDM(1000).sample_sigmas(n)
    for strength in [k / 100 for k in range(1, 101)]:
        timesteps, steps = i2i.get_timesteps(n, strength, 'cpu')
        if steps == 0:
            with pytest.raises(ValueError, match='= 0 of the'): img2img_sigmas(full, strength)
            continue
        sig = img2img_sigmas(full, strength)
        assert len(sig) - 1 == steps == len(timesteps)
        assert sigma_to_timestep(sig[:-1], model.train_sigmas).tolist() == timesteps.double().tolist()

def test_encode_images(tiny):
    path, pipe, model = tiny['epsilon']
    image = 2 * torch.rand(3, 3, 16, 24, generator=torch.Generator().manual_seed(0)) - 1
    z = model.encode_images(image, sample=False)
    assert z.shape == (3, 4, 8, 12) and z.dtype == torch.float32
    with torch.no_grad():
        dist = pipe.vae.encode(image).latent_dist
    assert torch.equal(z, dist.mean * pipe.vae.config.scaling_factor)      # the same call: the mean, scaled
    draw = lambda seed: model.encode_images(image, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(draw(1), draw(1)) and not torch.equal(draw(1), draw(2))
    with pytest.raises(ValueError, match=r'images must have shape \(B, 3, H, W\) with H and W multiples of 2'):
        model.encode_images(torch.zeros(1, 3, 15, 16))
    with pytest.raises(ValueError, match='images must have shape'):
        model.encode_images(torch.zeros(3, 16, 16))
    with pytest.raises(ValueError, match=r'images must lie in \[-1, 1\] \(from \[0, 1\]: 2 \* images - 1\)'):
        model.encode_images(torch.full((1, 3, 16, 16), 255.))

def test_shape_errors_name_xt_and_the_rule(tiny):
    path, pipe, model = tiny['epsilon']
    model.set_text_condition(PROMPTS)
    sig = ScheduleLDM(1000).sample_sigmas(4)
    for bad in (torch.zeros(2, 3, 8, 8), torch.zeros(2, 4, 8), torch.zeros(2, 4, 8, 0)):
        with pytest.raises(ValueError,
                           match=r"xt must have shape \(B, 4, H, W\): the UNet's 4 latent channels, any height"):
            samples(model, sig, xt=bad)
        with pytest.raises(ValueError, match=r'^x must have shape \(B, 4, H, W\)'):
            model(bad, sig[1])
    for strength in (0, 1.5, -0.5, True, '0.5'):
        with pytest.raises(ValueError, match=r'strength must be a number in \(0, 1\]'):
            img2img_sigmas(sig, strength)

def test_example_img2img_and_sizes(tmp_path):
    spec = importlib.util.spec_from_file_location(
        'stablediffusion_example', os.path.join(os.path.dirname(__file__), '..', 'examples', 'stablediffusion.py'))
    example = importlib.util.module_from_spec(spec); spec.loader.exec_module(example)
    from PIL import Image
    wide = tmp_path / 'wide.png'
    example.main(['--tiny', '--steps', '3', '--height', '24', '--width', '16', '--seed', '1', '--out', str(wide)])
    assert Image.open(wide).size == (16, 24)                                  # one image: no grid padding
    edited = tmp_path / 'edited.png'
    example.main(['--tiny', '--steps', '4', '--init-image', str(wide), '--strength', '0.5', '--batch', '2',
                  '--out', str(edited)])
    assert Image.open(edited).size == (2 * 16 + 3 * 2, 24 + 2 * 2)          # the init image's size; 2 px grid padding
    for bad in (['--strength', '0.5'], ['--init-image', str(wide), '--strength', '0'],
                ['--init-image', str(wide), '--steps', '4', '--strength', '0.2'], ['--height', '0']):
        with pytest.raises(SystemExit):
            example.main(['--tiny', *bad])
    with pytest.raises(SystemExit, match='multiples of 2'):
        example.main(['--tiny', '--steps', '1', '--height', '15', '--out', str(tmp_path / 'odd.png')])

def test_weights_load_from_safetensors_only(tiny, tmp_path):
    """A pipeline saved with pickled weights (.bin) is refused by default; use_safetensors=None (diffusers' default:
    safetensors if present, else .bin) is the explicit opt-in."""
    path = tmp_path / 'pickled'
    tiny['epsilon'][1].save_pretrained(path, safe_serialization=False)
    assert list((path / 'unet').glob('*.bin')) and not list((path / 'unet').glob('*.safetensors'))   # the U-Net pickled
    with pytest.raises(Exception, match='safetensors'): ModelLatentDiffusion(str(path))
    assert ModelLatentDiffusion(str(path), use_safetensors=None).input_dims == tiny['epsilon'][2].input_dims
