module example.com/kvsvc

go 1.26
