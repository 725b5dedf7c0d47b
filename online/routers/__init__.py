"""One router per resource; each is thin and calls :class:`online.service.RecommenderService`."""
