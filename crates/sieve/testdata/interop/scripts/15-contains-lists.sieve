if header :contains ["subject", "x-spam-flag"] ["money", "yes"] {
    discard;
}
