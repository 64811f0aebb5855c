require "fileinto";
if header :comparator "I;OCTET" :contains "subject" "Lunch" {
    fileinto "OctetUpper";
}
