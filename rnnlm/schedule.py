"""The learning-rate schedule and the budget of a training run.

The epoch lr (``TrainingState.lr``) starts at the configured lr and changes only between
steps: times ``lr_decay`` at the end of every epoch from ``decay_after`` on, or with
``decay_on_plateau`` after an epoch that did not improve validation; halved by a skipped
non-finite step. Each step then runs at the epoch lr annealed linearly to 0 over the last
``anneal`` share of the budget:
    lr_step = lr_epoch * min(1, left / anneal)
where ``left`` in [0, 1] is the share still to run of the epochs or of ``max_time``, whichever
runs out first. Both budgets count over all resumes. The steps that begin with ``left`` <=
``average`` join the parameter average (optim.ParameterAverage). With ``random_bptt`` a step
over a chunk of Tk steps runs at lr_step * Tk / bptt, so that a token weighs the same in a
short chunk as in a long one (the loss is a mean over the chunk's tokens); events report
lr_step, the rate per token.
"""


class Schedule:
    """Reads and changes a TrainingState; holds nothing of its own but the settings and the
    stream whose chunks it counts."""

    def __init__(self, cfg, stream):
        self.cfg = cfg              # TrainConfig
        self.stream = stream        # the training BatchStream: its len is the epoch's steps

    def budget_left(self, state):
        """The share of the budget still to run, in [0, 1]: of max_time or of epochs,
        whichever runs out first."""
        cfg = self.cfg
        left = 1.0 - (state.epoch + state.position / len(self.stream)) / cfg.epochs
        if cfg.max_time is not None:
            left = min(left, 1.0 - state.train_time / cfg.max_time)
        return min(max(left, 0.0), 1.0)

    def out_of_time(self, state):
        return self.cfg.max_time is not None and state.train_time >= self.cfg.max_time

    def step_lr(self, state):
        """The lr of the next step: the epoch's lr, annealed over the budget's last stretch."""
        lr = state.lr
        if self.cfg.anneal > 0:
            lr *= min(1.0, self.budget_left(state) / self.cfg.anneal)
        return lr

    def length_scale(self, steps):
        """The factor on step_lr for a chunk of ``steps`` time steps: steps / bptt with
        random_bptt, else 1."""
        return steps / self.cfg.bptt if self.cfg.random_bptt else 1.0

    def averaging(self, state):
        """Whether the step just taken joins the parameter average: it began within the last
        ``average`` share of the budget (measured as for ``anneal``)."""
        return self.cfg.average > 0 and self.budget_left(state) <= self.cfg.average

    def end_of_epoch(self, state, improved):
        """Decay the epoch lr after a whole epoch (state.epoch already counts it)."""
        cfg = self.cfg
        decay = cfg.decay_after is not None and state.epoch >= cfg.decay_after
        if decay or (cfg.decay_on_plateau and not improved):
            state.lr *= cfg.lr_decay

    @staticmethod
    def bad_step(state):
        """A non-finite loss or gradient: halve the epoch lr (it stays halved)."""
        state.lr *= 0.5
