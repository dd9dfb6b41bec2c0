"""Conditional generation with classifier-free guidance, end to end: a small ConditionalMLP trained with label dropout
on a tree puts more of its guided samples on their own class's branch than the unconditional model does by chance,
and the conversion gives the same guarantee on a flow model."""
import pytest
import torch
from torch.utils.data import DataLoader
from smalldiffusion import (TreeDataset, ConditionalMLP, PredFlow, ScheduleLogLinear, ScheduleFlow,
                            training_loop, samples)
from smalldiffusion.conditional import class_distance

def fractions(flow: bool, steps=2500, n=60, radius=0.1):
    "Fraction within `radius` of the own class's points: {cfg_scale: fraction}, and the unconditional model's."
    tree = TreeDataset(branching_factor=3, depth=2, num_samples_per_path=40)          # 9 classes
    points, labels = torch.stack([p for p, _ in tree.data]), torch.tensor([c for _, c in tree.data])
    torch.manual_seed(0)
    cls = PredFlow(ConditionalMLP) if flow else ConditionalMLP
    model = cls(dim=2, hidden_dims=(16, 128, 128, 16), cond_dim=4, num_classes=9, dropout_prob=0.1)
    # uniform t: a logit-normal t rarely trains t near 0, and guidance amplifies the errors left there
    schedule = ScheduleFlow() if flow else ScheduleLogLinear(N=200, sigma_min=0.01, sigma_max=10)
    for _ in training_loop(DataLoader(tree, batch_size=len(tree), shuffle=True), model, schedule, epochs=steps,
                           conditional=True): pass
    model.eval()
    cond = torch.arange(9).repeat_interleave(n)
    grid = ScheduleFlow().sample_sigmas(20) if flow else schedule.sample_sigmas(20)
    def frac(cfg_scale, label):
        torch.manual_seed(1)
        *_, x = samples(model, grid, cfg_scale=cfg_scale, batchsize=len(cond), cond=label)
        return (class_distance(x, cond, points, labels) < radius).float().mean().item()
    return {w: frac(w, cond) for w in (1., 3.)}, frac(0., torch.full_like(cond, 9))

@pytest.mark.parametrize('flow', [False, True], ids=['diffusion', 'flow'])
def test_guided_samples_land_on_their_own_branch(flow):
    guided, unconditional = fractions(flow)
    # the 9 branches share the root segment, so chance alone puts a fair share of unconditional samples near the
    # right class; guidance must beat it clearly (measured: see the assertion message on failure)
    assert all(f > unconditional + 0.1 for f in guided.values()), (guided, unconditional)
