if true {
    keep;
} else {
    discard;
}
else {
    discard;
}
