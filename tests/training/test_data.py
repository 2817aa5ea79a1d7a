from pada.tasks.schema import MCItem, QAItem
from pada.training.data import LengthGroupedSampler, SFTDataModule, shuffle_options
from pada.training.models import build_tiny_tokenizer

from .conftest import make_items


def test_shuffle_options_keeps_the_answer_and_is_seeded():
    item = MCItem(id="x", question="Pick", choices=("w", "x", "y", "z"), answer=2)
    orders = {shuffle_options(item, f"0:{epoch}:x").choices for epoch in range(12)}
    assert len(orders) > 1
    for epoch in range(12):
        shuffled = shuffle_options(item, f"0:{epoch}:x")
        assert shuffled.answer_text == "y" and sorted(shuffled.choices) == sorted(item.choices)
        assert shuffled == shuffle_options(item, f"0:{epoch}:x")


def test_positional_options_and_free_form_items_are_not_shuffled():
    item = MCItem(id="p", question="Pick", choices=("cats", "dogs", "All of the above"), answer=2)
    assert shuffle_options(item, "k") is item
    both = MCItem(id="b", question="Pick", choices=("cats", "dogs", "A and B"), answer=2)
    assert shuffle_options(both, "k") is both
    qa = QAItem(id="q", question="2+3?", answer="5")
    assert shuffle_options(qa, "k") is qa


def test_datamodule_gives_each_epoch_new_option_orders():
    class FakeTrainer:
        current_epoch = 0

    dm = SFTDataModule(make_items(16), build_tiny_tokenizer(), 96, batch_size=4, seed=0, style="letter")
    dm.trainer = FakeTrainer()
    dm.setup()
    first = [e.input_ids for e in dm.dataset.examples]
    dm.setup()
    assert [e.input_ids for e in dm.dataset.examples] == first  # same epoch: same encoding
    FakeTrainer.current_epoch = 1
    dm.setup()
    assert [e.input_ids for e in dm.dataset.examples] != first


def test_length_grouped_sampler_is_a_seeded_permutation_with_similar_lengths_per_batch():
    lengths = [(i * 37) % 100 for i in range(64)]
    s = LengthGroupedSampler(lengths, batch_size=8, seed=1, chunk_batches=8)
    order = list(s)
    assert sorted(order) == list(range(64)) and order == list(s)
    spreads = [
        max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in zip(*[iter(order)] * 8, strict=True)
    ]
    assert max(spreads) < 30
    s.set_epoch(1)
    assert list(s) != order
