#include <cstdio>
int main() { std::puts("onnxd"); return 0; }
