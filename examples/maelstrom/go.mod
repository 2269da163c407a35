module example.com/maelstrom-examples

go 1.26
