from convseq.cli import entry

entry()
