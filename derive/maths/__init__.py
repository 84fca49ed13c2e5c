"""The mathematics: functions, calculus, graphs, backpropagation, networks, regions. Never imports
render/ or verify/."""
