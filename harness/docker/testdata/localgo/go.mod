module example.com/faultlinetest/hello

go 1.22
