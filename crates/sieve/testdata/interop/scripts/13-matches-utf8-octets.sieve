require "fileinto";
# "ü" is two octets; "?" matches one octet, in Dovecot as here.
if header :matches "subject" "*Release plan f??r*" {
    fileinto "TwoOctets";
}
if header :matches "subject" "*Release plan f?r*" {
    fileinto "OneOctet";
}
