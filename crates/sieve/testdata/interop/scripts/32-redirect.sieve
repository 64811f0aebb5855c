if header :contains "subject" "lunch" {
    redirect "elsewhere@example.com";
}
