"""The tutorial's fortune service: an in-memory list of fortunes."""
import random
import threading

from fortune.ifc import FortuneServerMethods

INITIAL = [
    "You will reach the heights of success.",
    "Conquer your fears or they will conquer you.",
    "Today is your lucky day!",
]


class Fortune(FortuneServerMethods):
    def __init__(self, fortunes=None, seed=99):
        self.fortunes = list(INITIAL if fortunes is None else fortunes)
        self.random = random.Random(seed)
        self.lock = threading.Lock()

    def Get(self, ctx, call):
        with self.lock:
            if not self.fortunes:
                return "[empty]"
            return self.fortunes[self.random.randrange(len(self.fortunes))]

    def Add(self, ctx, call, wisdom):
        with self.lock:
            self.fortunes.append(wisdom)


def make():
    return Fortune()
