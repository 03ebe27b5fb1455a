"""Evaluation harness: does entropix answer more questions correctly than
greedy or plain sampling, on the same prompts and seeds? See cli.eval_command."""
