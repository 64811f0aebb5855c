if address :all "subject" "x" {
    discard;
}
